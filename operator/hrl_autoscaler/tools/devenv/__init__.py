"""The local control plane: real kube-apiserver, etcd and Prometheus on loopback.

Tests and the demo run the operator against real parts instead of mocks (the way
controller-runtime's envtest does: no kubelet, no Docker). The Go binaries are built once from
the Go module proxy and cached under ``~/.cache/hrl-autoscaler/bin``; Prometheus comes from
Debian's ``prometheus`` package.
"""
