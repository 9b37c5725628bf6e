variable "replicas" {
  type        = number
  default     = 2
  description = "How many pods"
}
