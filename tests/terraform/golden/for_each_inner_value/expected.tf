resource "kubernetes_config_map" "per_team" {
  for_each = {
    alpha = { size = "small", replicas = 1 }
    beta = {
      size     = "large"
      replicas = 4
    }
  }

  metadata {
    name = each.key
  }
}
