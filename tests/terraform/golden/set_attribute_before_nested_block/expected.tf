resource "kubernetes_deployment" "web" {
  wait_for_rollout = false

  metadata {
    name = "web"
  }
}
