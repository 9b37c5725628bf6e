locals {
  limits = {
    "cpu": "500m",
    "memory": "256Mi",
  }
}
