resource "kubernetes_deployment" "web" {
  spec {
    replicas = 2

    template {
      spec {
        container {
          name  = "web"
          image = "nginx:1.27" # pinned
        }
      }
    }
  }
}
