variable "replicas" {
  type        = number
  default     = 6
  description = "How many pods"
}
