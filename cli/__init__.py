"""The `challenge` command line (installed as `challengers.cli`)."""
