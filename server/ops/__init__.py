"""Running the service: backups, metrics and health, the deployment check, the disk floor."""
