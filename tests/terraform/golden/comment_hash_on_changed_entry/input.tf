resource "kubernetes_config_map" "settings" {
  metadata {
    name = "settings"
  }

  data = {
    # how chatty the app is
    LOG_LEVEL = "info" # raised during the incident
    TIMEOUT   = "30s"
  }
}
