resource "aws_autoscaling_policy" "cpu" {
  target_value = 70.5
  ratio        = 1.0e-07
}
