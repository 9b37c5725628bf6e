resource "aws_ssm_parameter" "banner" {
  value = <<EOT
multi
line
EOT
}
