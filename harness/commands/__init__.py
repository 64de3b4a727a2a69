"""The `harness` subcommands that need more than a few lines (none imports Locust)."""
