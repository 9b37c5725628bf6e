resource "aws_instance" "web" {
  ami           = "ami-0abc"
  instance_type = "m5.2xlarge"
  monitoring    = false
}
