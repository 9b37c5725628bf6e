resource "aws_instance" "web" {
  lifecycle {}
}
