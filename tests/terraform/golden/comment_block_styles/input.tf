/*
 * Settings for the web tier.
 */
resource "kubernetes_config_map" "web" {
  data = {
    /* pool */ POOL = "8"
    MODE = "fast" /* tuned by hand */
  }
}
