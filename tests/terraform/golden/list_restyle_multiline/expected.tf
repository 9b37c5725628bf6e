resource "kubernetes_deployment" "web" {
  args = [
    "--port=9090",
    "--workers=4"
  ]
}
