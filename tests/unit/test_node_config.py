"""The local node's rendered configs (pure; no node started)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import yaml

from hrl_autoscaler.tools.devenv import gobuild
from hrl_autoscaler.tools.devenv.node import cluster_objects, components
from hrl_autoscaler.tools.devenv.node import config as nodeconfig
from hrl_autoscaler.tools.devenv.node.coredns_build import PLUGINS, main_go

CFG = nodeconfig.NodeConfig(data_dir=Path("/data/node"), host_ip="192.0.2.2")


def test_containerd_config_is_private_and_clamps_oom_score() -> None:
    config = tomllib.loads(nodeconfig.containerd_toml(CFG))
    assert config["root"].startswith("/data/node/")
    assert config["state"].startswith("/data/node/")
    assert config["grpc"]["address"] == str(CFG.containerd_socket)
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True  # root lacks CAP_SYS_RESOURCE here
    assert cri["sandbox_image"] == nodeconfig.PAUSE_IMAGE
    assert cri["cni"]["bin_dir"] == "/usr/lib/cni"
    assert cri["cni"]["conf_dir"] == str(CFG.cni_conf_dir)
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is False


def test_cni_conflist_bridge_host_local_portmap() -> None:
    conf = json.loads(nodeconfig.cni_conflist(CFG))
    types = [p["type"] for p in conf["plugins"]]
    assert types == ["bridge", "portmap"]
    bridge = conf["plugins"][0]
    assert bridge["bridge"] == "hrlcni0"
    assert bridge["ipam"]["type"] == "host-local"
    assert bridge["ipam"]["dataDir"].startswith("/data/node/")
    assert bridge["ipam"]["ranges"][0][0] == {"subnet": "10.244.0.0/24", "gateway": "10.244.0.1"}


def test_kubelet_config_for_cgroup_v1_without_systemd() -> None:
    config = yaml.safe_load(nodeconfig.kubelet_config(CFG, Path("/pki/ca.crt")))
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["containerRuntimeEndpoint"] == f"unix://{CFG.containerd_socket}"
    assert config["clusterDNS"] == ["10.0.0.10"]
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authentication"]["x509"]["clientCAFile"] == "/pki/ca.crt"
    assert config["readOnlyPort"] == 0


def test_kube_proxy_config_changes_no_host_sysctl() -> None:
    config = yaml.safe_load(nodeconfig.kube_proxy_config(CFG, Path("/k")))
    assert config["mode"] == "iptables"
    assert config["conntrack"]["maxPerCore"] == 0
    assert config["iptables"]["localhostNodePorts"] is False
    assert config["iptables"]["masqueradeAll"] is True


def test_corefile_binds_host_address_and_serves_the_cluster_domain() -> None:
    text = nodeconfig.corefile(CFG, Path("/k/coredns.kubeconfig"))
    assert text.startswith(".:10053 {")
    assert "bind 192.0.2.2" in text
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in text
    assert "kubeconfig /k/coredns.kubeconfig" in text


def test_coredns_wrapper_sets_directives_in_order() -> None:
    source = main_go()
    assert '"github.com/coredns/coredns/coremain"' in source
    for name in PLUGINS:
        assert f'_ "github.com/coredns/coredns/plugin/{name}"' in source
    order = [source.index(f'\t\t"{name}",') for name in PLUGINS]
    assert order == sorted(order)
    # upstream plugin.cfg order: kubernetes answers before forward sends elsewhere
    assert PLUGINS.index("kubernetes") < PLUGINS.index("forward")


def test_kube_dns_points_at_the_host_coredns() -> None:
    service = cluster_objects.kube_dns_service(CFG)
    assert service["spec"]["clusterIP"] == CFG.dns_service_ip
    assert "selector" not in service["spec"]
    endpoints = cluster_objects.kube_dns_endpoint_slice(CFG)
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
    assert endpoints["endpoints"][0]["addresses"] == ["192.0.2.2"]
    assert {p["port"] for p in endpoints["ports"]} == {10053}


def test_kube_proxy_cleanup_command() -> None:
    assert components.kube_proxy_cleanup_argv(Path("/bin/kube-proxy"))[1] == "--cleanup"


def test_helm_is_stamped_with_the_kubernetes_version() -> None:
    flags = gobuild.helm_ldflags("v3.21.4-k8s1.35")
    assert "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1" in flags
    assert "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=35" in flags
    assert "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=35" in flags
    assert "-X helm.sh/helm/v3/internal/version.version=v3.21.4 " in flags
    assert gobuild.helm_release("v3.21.4-k8s1.35") == ("v3.21.4", "1", "35")
