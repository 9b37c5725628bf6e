locals {
  steps = [
    "build",
    "test",
    "deploy",
  ]
}
