resource "aws_ssm_parameter" "banner" {
  value = "single line"
}
