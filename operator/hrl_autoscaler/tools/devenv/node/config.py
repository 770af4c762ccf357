"""The local node's settings and the config files rendered from them (pure: no I/O).

One typed :class:`NodeConfig` holds every address, range and path; the renderers turn it into
containerd's TOML, kubelet's and kube-proxy's YAML, the CNI network list and CoreDNS's Corefile,
so unit tests can check each without starting anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

#: Image references of the images built here (no registry serves them; see :mod:`.images`).
PAUSE_IMAGE = "hrl-autoscaler.local/pause:3.10"
BUSYBOX_IMAGE = "hrl-autoscaler.local/busybox:1.35"


@dataclass(frozen=True)
class NodeConfig:
    """Where and how the node's components run; every default says why it is that."""

    #: Directory for all node state (containerd root/state, kubelet root, CNI, configs, certs).
    data_dir: Path
    #: The address the API server advertises and the node registers with: not loopback,
    #: because a loopback address cannot be an Endpoints address (pods reach it via kube-proxy).
    host_ip: str
    #: Node name (kubelet ``--hostname-override``); the client cert says ``system:node:<name>``.
    node_name: str = "hrl-node"
    #: Pod addresses, handed out by CNI host-local on the bridge (outside the Service range).
    pod_cidr: str = "10.244.0.0/24"
    #: The Service range the API server allocates ClusterIPs from (see controlplane.py).
    service_cidr: str = "10.0.0.0/24"
    #: ClusterIP of the ``kube-dns`` Service (the 10th address, as kubeadm picks).
    dns_service_ip: str = "10.0.0.10"
    cluster_domain: str = "cluster.local"
    #: Our own bridge name (not ``cni0``) so cleanup never removes another runtime's bridge.
    bridge: str = "hrlcni0"
    #: Host port CoreDNS answers on (the kube-dns Service maps port 53 to it): not 53, which a
    #: host resolver may hold.
    dns_port: int = 10053
    #: kubelet's API (``kubectl exec``/``logs`` go through it), health and CoreDNS probe ports.
    kubelet_port: int = 10250
    kubelet_healthz_port: int = 10248
    proxy_healthz_port: int = 10256
    proxy_metrics_port: int = 10249
    dns_health_port: int = 10054
    dns_ready_port: int = 10055
    #: containerd's metrics endpoint: the only HTTP it serves, so ``dev status`` probes it.
    containerd_metrics_port: int = 10257
    #: Secure (health) ports of the controller manager and scheduler, off their defaults
    #: (10257/10259) so that a second control plane on the host does not collide.
    controller_manager_port: int = 10357
    scheduler_port: int = 10359
    #: Debian's CNI plugins (package ``containernetworking-plugins``).
    cni_bin_dir: Path = Path("/usr/lib/cni")
    pause_image: str = PAUSE_IMAGE

    @property
    def containerd_dir(self) -> Path:
        return self.data_dir / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def kubelet_dir(self) -> Path:
        return self.data_dir / "kubelet"

    @property
    def cni_conf_dir(self) -> Path:
        return self.data_dir / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.data_dir / "cni" / "ipam"

    @property
    def config_dir(self) -> Path:
        return self.data_dir / "config"

    @property
    def pod_gateway(self) -> str:
        """The bridge's address: the first host of the pod range."""
        base, _ = self.pod_cidr.split("/")
        octets = base.split(".")
        return ".".join([*octets[:3], str(int(octets[3]) + 1)])


def containerd_toml(cfg: NodeConfig) -> str:
    """containerd 1.6 config (version 2): private root/state/socket, CRI with our pause image.

    ``restrict_oom_score_adj``: root here lacks CAP_SYS_RESOURCE, so a negative oom_score_adj is
    refused and every sandbox fails with runc's "can't get final child's PID from pipe: EOF"
    unless the CRI plugin clamps it. Snapshotters other than overlayfs are disabled: they probe
    the host (btrfs, zfs, devmapper) and only add log noise.
    """
    d = cfg.containerd_dir
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{d / "root"}"
state = "{d / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{cfg.containerd_socket}"

[ttrpc]
  address = "{d / "containerd.sock.ttrpc"}"

[metrics]
  address = "127.0.0.1:{cfg.containerd_metrics_port}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d / "opt"}"

[{cri}]
  sandbox_image = "{cfg.pause_image}"
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{cfg.cni_bin_dir}"
  conf_dir = "{cfg.cni_conf_dir}"
"""


def cni_conflist(cfg: NodeConfig) -> str:
    """bridge + host-local (pod range, state under the data dir) + portmap, as JSON.

    ``hairpinMode`` lets a pod reach itself through its own Service; ``ipMasq`` lets pods reach
    the host's resolver and the outside. Loopback is set up by containerd's CRI plugin itself.
    """
    conf = {
        "cniVersion": "0.4.0",
        "name": "hrl-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": cfg.bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(cfg.cni_ipam_dir),
                    "ranges": [[{"subnet": cfg.pod_cidr, "gateway": cfg.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


def kubelet_config(cfg: NodeConfig, ca_cert: Path) -> str:
    """KubeletConfiguration for this kernel and this container.

    cgroup v1 (hybrid hierarchy): kubelet 1.35 refuses v1 unless ``failCgroupV1: false``; no
    systemd, so the ``cgroupfs`` driver. Eviction thresholds are low so a nearly full disk of a
    dev machine does not taint the node; swap is tolerated. Webhook authn/authz: the API server
    reaches kubelet (``exec``, ``logs``) with its kubelet client certificate.
    """
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{cfg.containerd_socket}",
        "address": cfg.host_ip,
        "port": cfg.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": cfg.kubelet_healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [cfg.dns_service_ip],
        "clusterDomain": cfg.cluster_domain,
        "resolvConf": "/etc/resolv.conf",
        "failSwapOn": False,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "maxPods": 60,
        "podPidsLimit": -1,
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(cfg: NodeConfig, kubeconfig: Path) -> str:
    """KubeProxyConfiguration: iptables mode, no host sysctl changes.

    ``masqueradeAll`` SNATs Service traffic so the reply of a pod on the same bridge comes back
    through the host and is un-DNATed (robust even without br_netfilter). Conntrack sizing and
    ``localhostNodePorts`` are off: each would rewrite a host-wide sysctl this dev node should
    not leave changed.
    """
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": cfg.node_name,
        "bindAddress": cfg.host_ip,
        "healthzBindAddress": f"127.0.0.1:{cfg.proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{cfg.proxy_metrics_port}",
        "clusterCIDR": cfg.pod_cidr,
        "iptables": {"masqueradeAll": True, "localhostNodePorts": False, "syncPeriod": "5s"},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "nodePortAddresses": [f"{cfg.host_ip}/32"],
    }
    return yaml.safe_dump(config, sort_keys=False)


def corefile(cfg: NodeConfig, kubeconfig: Path) -> str:
    """CoreDNS on the host address (the ``kube-dns`` Service's endpoint), kubeadm's plugin set."""
    zone = cfg.cluster_domain
    return f""".:{cfg.dns_port} {{
    bind {cfg.host_ip}
    errors
    log . "{{remote}} {{type}} {{name}} {{rcode}} {{duration}}"
    health 127.0.0.1:{cfg.dns_health_port}
    ready 127.0.0.1:{cfg.dns_ready_port}
    kubernetes {zone} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    forward . /etc/resolv.conf
    cache 5
    loop
    loadbalance
}}
"""
