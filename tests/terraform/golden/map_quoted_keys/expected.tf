resource "kubernetes_deployment" "web" {
  metadata {
    labels = {
      "app.kubernetes.io/name"    = "web"
      "app.kubernetes.io/version" = "1.3.0"
      "team"                      = "x"
    }
  }
}
