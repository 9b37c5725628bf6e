resource "kubernetes_config_map" "settings" {
  data = {
    // kept: explains the cache
    CACHE_SIZE = "512"
    REGION = "eu-west-1"
  }
}
