resource "kubernetes_deployment" "web" {
  metadata {
    name = "web"
  }
}
