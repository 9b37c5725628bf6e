resource "kubernetes_config_map" "motd" {
  data = {
    MOTD = "say \"hi\"\\n\tto $${USER} and 100%%{x}\nbye"
  }
}
