resource "aws_security_group_rule" "ssh" {
  cidr_blocks = [
    "10.0.0.0/8",
    "192.168.0.0/16", # office
  ]
}
