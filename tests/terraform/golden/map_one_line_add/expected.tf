resource "kubernetes_namespace" "apps" {
  metadata {
    name   = "apps"
    labels = { team = "core", tier = "backend" }
  }
}
