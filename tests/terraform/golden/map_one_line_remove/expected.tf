locals {
  ports = { http = 80, admin = 8080 }
}
