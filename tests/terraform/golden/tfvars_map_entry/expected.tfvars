image_tags = {
  api    = "1.5.0"
  worker = "1.4.1" # lagging on purpose
}
