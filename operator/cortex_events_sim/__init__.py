"""Stand-ins for what the operator talks to, and the demo that runs it against them.

- `fake_cortex`: an emulator of Cortex's Custom Events API (``cortex-events fake-cortex``).
- `kubeapi`: an in-memory Kubernetes API server; `cluster`: simulated controllers and kubelet
  working on its store; `server_thread`: both on a loop of their own, for synchronous code.
- `demo`: ``cortex-events demo``, the operator against both stand-ins.
- `workloads`, `kubectl`: sample manifests, and a small kubectl over the official client.

The operator (`cortex_events`) never imports this package, except ``cortex-events demo`` and
``cortex-events fake-cortex``, which import it when they run.
"""
