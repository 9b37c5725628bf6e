resource "aws_autoscaling_policy" "cpu" {
  target_value = 65.25
  ratio        = 1
}
