"""The `pgfa` command line."""
