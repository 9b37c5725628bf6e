resource "kubernetes_service" "web" {
  metadata {
    labels = {
      app = "web"
      "app.kubernetes.io/part-of" = "shop"
    }
  }
}
