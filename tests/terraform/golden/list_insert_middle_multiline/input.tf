locals {
  steps = [
    "build",
    "deploy",
  ]
}
