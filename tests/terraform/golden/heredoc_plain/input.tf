resource "kubernetes_config_map" "nginx" {
  data = {
    "nginx.conf" = <<EOT
worker_processes 2;
events {}
EOT
  }
}
