resource "aws_instance" "web" {
  key_name = "ops"
}
