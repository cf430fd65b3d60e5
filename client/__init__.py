"""The `ohmpi` command-line client and importable Python client."""
