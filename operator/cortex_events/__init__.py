"""Record Kubernetes workload lifecycle changes as Cortex custom events."""

__version__ = "0.1.0"
