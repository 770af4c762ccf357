"""One real Kubernetes node on this machine, every component a local process (as Kubernetes'
``hack/local-up-cluster.sh`` does): kube-controller-manager, kube-scheduler, containerd, kubelet,
kube-proxy, CNI and CoreDNS next to the control plane of :mod:`..controlplane`.

Small modules of one job each; nothing here is imported by the plain control plane except the
CoreDNS builder (from :mod:`..binaries`).
"""
