image_tags = {
  api    = "1.4.2"
  worker = "1.4.1" # lagging on purpose
}
