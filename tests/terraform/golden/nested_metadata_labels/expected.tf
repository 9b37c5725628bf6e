resource "kubernetes_deployment" "web" {
  metadata {
    name = "web"
    labels = {
      app  = "web"
      tier = "edge"
    }
  }
}
