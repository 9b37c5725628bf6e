resource "kubernetes_deployment" "web" {
  args = [
    "--port=8080",
    "--verbose",
    "--workers=2"
  ]
}
