resource "kubernetes_service" "web" {
  metadata {
    labels = {
      app = "web"
    }
  }
}
