resource "kubernetes_config_map" "motd" {
  data = {
    MOTD = "hello"
  }
}
