locals {
  ports = { http = 80, https = 443, admin = 8080 }
}
