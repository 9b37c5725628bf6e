resource "kubernetes_config_map" "settings" {
  data = {
    // kept: explains the cache
    CACHE_SIZE = "512"
    DEBUG_TOKEN = "x" // temporary, remove after rollout
    REGION = "eu-west-1"
  }
}
