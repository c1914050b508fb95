terraform {
  required_version = ">= 1.11.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.100.0"
      # aws.backup: the backup region (modules/backup).
      configuration_aliases = [aws.backup]
    }
  }
}
