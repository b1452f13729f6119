"""A real Kubernetes control plane on loopback, for the real-cluster suite and the benchmark.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (which plays the kubelet
for fake nodes), built from their Go modules by ``scripts/k8s-assets`` and run as processes of
the caller. Start one by hand with ``python -m testbed up``.
"""
