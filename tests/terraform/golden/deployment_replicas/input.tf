resource "kubernetes_deployment" "web" {
  metadata {
    name = "web"
  }

  spec {
    replicas = 3 # baseline

    selector {
      match_labels = { app = "web" }
    }
  }
}
