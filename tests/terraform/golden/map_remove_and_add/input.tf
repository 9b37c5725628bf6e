resource "kubernetes_config_map" "settings" {
  data = {
    OLD_FLAG = "1"
    KEEP     = "yes"
  }
}
