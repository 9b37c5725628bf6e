# Überwachung für die Zähler — 監視
resource "kubernetes_config_map" "i18n" {
  data = {
    GREETING = "grüß dich 👋"
    LIMIT    = "5"
  }
}
