resource "aws_security_group_rule" "web" {
  ports = [80, 443]
}
