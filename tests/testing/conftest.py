"""Fixtures for the testing kit's own tests: pytester runs the kit's pytest plugin in a fresh session."""

pytest_plugins = ["pytester"]
