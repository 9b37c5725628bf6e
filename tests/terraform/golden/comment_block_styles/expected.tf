/*
 * Settings for the web tier.
 */
resource "kubernetes_config_map" "web" {
  data = {
    /* pool */ POOL = "16"
    MODE = "safe" /* tuned by hand */
  }
}
