resource "kubernetes_config_map" "settings" {
  data = {
    KEEP     = "yes"
    NEW_FLAG = "2"
  }
}
