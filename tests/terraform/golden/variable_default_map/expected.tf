variable "env" {
  type = map(string)
  default = {
    LOG_LEVEL = "info"
    FEATURE_X = "on"
  }
}
