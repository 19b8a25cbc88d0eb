"""The `dmetrics` command-line interface."""
