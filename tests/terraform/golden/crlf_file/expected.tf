resource "kubernetes_config_map" "win" {
  data = {
    A = "10" # one
    C = {
      nested = true
    }
  }
}
