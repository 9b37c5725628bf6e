resource "aws_ssm_parameter" "motd" {
  value = <<-EOT
    hello
      there
    world
  EOT
}
