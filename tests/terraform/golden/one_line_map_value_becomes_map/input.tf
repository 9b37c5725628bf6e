locals {
  labels = { a = "x", b = 1 }
}
