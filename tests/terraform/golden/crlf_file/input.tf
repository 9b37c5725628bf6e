resource "kubernetes_config_map" "win" {
  data = {
    A = "1" # one
    B = "2"
  }
}
