resource "aws_iam_policy" "read" {
  policy = <<-EOT
    {
      "Version": "2012-10-17",
      "Statement": []
    }
    EOT
}
