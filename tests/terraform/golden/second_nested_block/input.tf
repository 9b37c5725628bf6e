resource "kubernetes_deployment" "web" {
  spec {
    template {
      spec {
        container {
          name  = "web"
          image = "nginx:1.25"
        }

        container {
          name  = "sidecar"
          image = "envoy:1.29"
        }
      }
    }
  }
}
