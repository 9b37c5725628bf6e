resource "aws_security_group_rule" "web" {
  cidr_blocks = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "100.64.0.0/10"
  ]
}
