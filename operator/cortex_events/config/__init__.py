"""The operator's configuration and its one secret, read once at start."""
