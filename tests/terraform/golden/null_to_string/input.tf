resource "aws_instance" "web" {
  key_name = null
}
