resource "aws_instance" "web" {
  monitoring = false
}
