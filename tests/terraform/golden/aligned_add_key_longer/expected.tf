resource "aws_instance" "web" {
  tags = {
    Name = "web"
    Team = "core"
    CostCenter = "1234"
  }
}
