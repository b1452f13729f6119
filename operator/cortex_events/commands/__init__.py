"""The tool commands beside `run`: check, kubeconfig, events, and the flags they share."""
