"""Locust scenario files over `harness.load` (installed with the package)."""
