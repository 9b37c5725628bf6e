locals {
  limits = {
    "cpu": "1",
    "memory": "256Mi",
    "ephemeral-storage": "1Gi",
  }
}
