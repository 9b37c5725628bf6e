resource "kubernetes_config_map" "nginx" {
  data = {
    "nginx.conf" = <<EOT
worker_processes 4;
events {}
# $${not_interpolated}
EOT
  }
}
