replicas = 3
region   = "us-east-1"