module "app" {
  source   = "./modules/app"
  replicas = 5
}
