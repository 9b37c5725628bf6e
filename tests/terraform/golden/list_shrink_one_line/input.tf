variable "zones" {
  default = ["a", "b", "c"]
}
