resource "aws_instance" "web" {
  monitoring = true
}
