"""Developer tooling (not shipped): local dev/test stack under ``tools.devstack``."""
