resource "aws_instance" "web" {
  tags = {
    Name        = "web"
    Environment = "prod"
    Owner       = "platform"
  }
}
