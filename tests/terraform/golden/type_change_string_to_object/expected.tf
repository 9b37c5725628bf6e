resource "helm_release" "app" {
  name   = "app"
  values = {
    replicas = 2
    image = {
      tag = "1.0"
    }
  }
}
