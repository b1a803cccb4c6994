"""Mail delivery: SMTP for deployments, a folder of .eml files for development."""
