locals {
  ports = { http = 80, }
}
