variable "zones" {
  default = ["a", "c"]
}
