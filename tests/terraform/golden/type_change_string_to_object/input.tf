resource "helm_release" "app" {
  name   = "app"
  values = "none"
}
