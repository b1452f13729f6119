"""kopf operators the benchmark compares the operator with; each runs as ``python <file>``."""
