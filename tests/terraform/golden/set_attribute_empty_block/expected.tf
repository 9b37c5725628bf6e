resource "aws_instance" "web" {
  lifecycle {
    prevent_destroy = true
  }
}
