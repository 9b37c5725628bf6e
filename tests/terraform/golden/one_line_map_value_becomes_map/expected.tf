locals {
  labels = { a = { c = 1, d = [2] }, b = 1 }
}
