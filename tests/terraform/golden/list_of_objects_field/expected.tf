resource "kubernetes_network_policy" "web" {
  ports = [
    { port = 80, protocol = "TCP" },
    { port = 8443, protocol = "TCP" },
  ]
}
