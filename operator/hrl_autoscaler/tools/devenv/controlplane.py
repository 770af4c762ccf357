"""etcd + kube-apiserver on 127.0.0.1: a real Kubernetes API without nodes.

This is the envtest shape: the API server validates objects against real CRD schemas, enforces
RBAC, serves watches, events and status subresources, and stores in a real etcd, but nothing
runs pods. Ports are free ones picked per instance unless given, so several control planes (and
parallel test runs) can coexist. etcd runs without fsync on a temporary data directory: the data
is thrown away at stop, and durability would only slow tests down.
"""

from __future__ import annotations

import base64
import functools
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from hrl_autoscaler.tools.devenv.certs import ControlPlaneCerts, generate_certs, issue_client_cert
from hrl_autoscaler.tools.devenv.processes import (
    ManagedProcess,
    PortInUseError,
    ProcessExitedError,
    check_port_free,
    free_port,
)

READY_TIMEOUT_SECONDS = 60.0
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_IP = "10.0.0.1"  # first address of the range: the `kubernetes` Service
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class ControlPlaneError(RuntimeError):
    """The control plane did not come up; the message names the component and its log."""


@dataclass(frozen=True)
class Ports:
    """The loopback ports one control plane listens on."""

    etcd_client: int
    etcd_peer: int
    apiserver: int

    @classmethod
    def pick(
        cls,
        etcd_client: int | None = None,
        etcd_peer: int | None = None,
        apiserver: int | None = None,
    ) -> Ports:
        """Use the given ports (checked now, with a readable error) or free ones."""
        wanted = [
            (etcd_client, "etcd", "--listen-client-urls"),
            (etcd_peer, "etcd", "--listen-peer-urls"),
            (apiserver, "kube-apiserver", "--secure-port"),
        ]
        chosen: list[int] = []
        for port, component, flag in wanted:
            if port is None:
                port = free_port()
                while port in chosen:
                    port = free_port()
            else:
                check_port_free(port, component, flag)
            chosen.append(port)
        return cls(*chosen)


@functools.cache
def _etcd_supports(binary: Path, flag: str) -> bool:
    """Whether this etcd knows ``flag`` (Debian's 3.4 lacks some 3.5+ flags)."""
    try:
        result = subprocess.run(
            [str(binary), "--help"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in result.stdout + result.stderr


def etcd_argv(binary: Path, data_dir: Path, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    argv = [
        str(binary),
        "--name=devenv",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=devenv={peer}",
        "--log-level=warn",
    ]
    if _etcd_supports(binary, "--unsafe-no-fsync"):
        argv.append("--unsafe-no-fsync")
    return argv


def apiserver_argv(
    binary: Path,
    certs: ControlPlaneCerts,
    ports: Ports,
    cert_dir: Path,
    node_host_ip: str | None = None,
) -> list[str]:
    argv = [
        str(binary),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={certs.serving_cert}",
        f"--tls-private-key-file={certs.serving_key}",
        f"--client-ca-file={certs.ca_cert}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={certs.service_account_pub}",
        f"--service-account-signing-key-file={certs.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        # A loopback advertise address cannot be an Endpoints address; nothing needs the
        # in-cluster `kubernetes` Service endpoints without pods, so skip their reconciler.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
    ]
    if node_host_ip is None:
        return argv
    # With a node, pods reach `kubernetes.default` through kube-proxy: advertise a non-loopback
    # address (an Endpoints address cannot be loopback), listen on it too, keep the endpoints
    # reconciled, authorize kubelets by node, and reach kubelets (exec, logs) as a client.
    kubelet_cert, kubelet_key = node_kubelet_client(certs)
    replaced = {
        "--bind-address=127.0.0.1": "--bind-address=0.0.0.0",
        "--advertise-address=127.0.0.1": f"--advertise-address={node_host_ip}",
        "--endpoint-reconciler-type=none": "--endpoint-reconciler-type=lease",
        "--authorization-mode=RBAC": "--authorization-mode=Node,RBAC",
    }
    return [replaced.get(arg, arg) for arg in argv] + [
        "--enable-admission-plugins=NodeRestriction",
        f"--kubelet-client-certificate={kubelet_cert}",
        f"--kubelet-client-key={kubelet_key}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
    ]


def node_kubelet_client(certs: ControlPlaneCerts) -> tuple[Path, Path]:
    """Where the API server's client certificate for kubelets lives (made by :meth:`start`)."""
    directory = certs.ca_cert.parent
    return directory / "apiserver-kubelet-client.crt", directory / "apiserver-kubelet-client.key"


def write_kubeconfig(path: Path, server: str, certs: ControlPlaneCerts) -> Path:
    """An admin kubeconfig with the CA and client certificate embedded (portable as one file)."""

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "hrl-devenv",
                "cluster": {"server": server, "certificate-authority-data": b64(certs.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "hrl-devenv-admin",
                "user": {
                    "client-certificate-data": b64(certs.admin_cert),
                    "client-key-data": b64(certs.admin_key),
                },
            }
        ],
        "contexts": [
            {"name": "hrl-devenv", "context": {"cluster": "hrl-devenv", "user": "hrl-devenv-admin"}}
        ],
        "current-context": "hrl-devenv",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def api_client_from(kubeconfig: Path) -> k8s_client.ApiClient:
    """A kubernetes ApiClient for a kubeconfig file (typed wrapper over the client's loader)."""
    loader = k8s_config.new_client_from_config
    api: k8s_client.ApiClient = loader(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return api


def close_api_client(api: k8s_client.ApiClient) -> None:
    """Close an ApiClient's connection pool (typed wrapper over the client's close)."""
    api.close()  # type: ignore[no-untyped-call]


class ControlPlane:
    """One etcd and one kube-apiserver, their certificates and an admin kubeconfig.

    ``state_dir`` keeps what outlives the processes (logs, kubeconfig, certificates);
    ``data_dir`` holds etcd's data and is the caller's to delete after :meth:`stop`.
    """

    def __init__(
        self,
        etcd_binary: Path,
        apiserver_binary: Path,
        state_dir: Path,
        data_dir: Path,
        ports: Ports | None = None,
        node_host_ip: str | None = None,
    ) -> None:
        """``node_host_ip``: set for ``dev up --node`` (see :func:`apiserver_argv`)."""
        self.node_host_ip = node_host_ip
        self.etcd_binary = etcd_binary
        self.apiserver_binary = apiserver_binary
        self.state_dir = state_dir
        self.data_dir = data_dir
        self.ports = ports or Ports.pick()
        self.kubeconfig = state_dir / "kubeconfig"
        self.certs: ControlPlaneCerts | None = None
        self.processes: list[ManagedProcess] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def start(self, *, tie_to_parent: bool = True) -> None:
        """Make certificates, start etcd and kube-apiserver (at once; see :meth:`wait_ready`)."""
        for binary, name in ((self.etcd_binary, "etcd"), (self.apiserver_binary, "kube-apiserver")):
            if not binary.is_file():
                raise ControlPlaneError(
                    f"{name} binary not found at {binary}; build it with "
                    "`python -m hrl_autoscaler.tools.devenv build`"
                )
        logs = self.state_dir / "logs"
        hosts = ("127.0.0.1", "localhost", *([self.node_host_ip] if self.node_host_ip else []))
        self.certs = generate_certs(self.state_dir / "pki", hosts=hosts, service_ip=SERVICE_IP)
        if self.node_host_ip:
            issue_client_cert(
                self.state_dir / "pki",
                "apiserver-kubelet-client",
                "/O=system:masters/CN=kube-apiserver-kubelet-client",
                (self.certs.ca_cert, self.certs.ca_key),
            )
        write_kubeconfig(self.kubeconfig, self.url, self.certs)
        etcd = ManagedProcess.start(
            "etcd",
            etcd_argv(self.etcd_binary, self.data_dir / "etcd", self.ports),
            logs / "etcd.log",
            tie_to_parent=tie_to_parent,
        )
        self.processes.append(etcd)
        # kube-apiserver retries etcd until it answers, so both start together.
        apiserver = ManagedProcess.start(
            "kube-apiserver",
            apiserver_argv(
                self.apiserver_binary,
                self.certs,
                self.ports,
                self.data_dir / "apiserver-certs",
                self.node_host_ip,
            ),
            logs / "kube-apiserver.log",
            tie_to_parent=tie_to_parent,
        )
        self.processes.append(apiserver)

    def ssl_context(self) -> ssl.SSLContext:
        """TLS context trusting our CA and presenting the admin client certificate."""
        if self.certs is None:
            raise ControlPlaneError("control plane not started")
        context = ssl.create_default_context(cafile=str(self.certs.ca_cert))
        context.load_cert_chain(str(self.certs.admin_cert), str(self.certs.admin_key))
        return context

    def is_ready(self) -> bool:
        """One look at ``/readyz``: True when it answers 200 (after a restart, for instance)."""
        try:
            with httpx.Client(verify=self.ssl_context(), timeout=2.0) as http:
                return http.get(f"{self.url}/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Block until ``/readyz`` is 200 (all post-start hooks done), or raise readably."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(verify=self.ssl_context(), timeout=2.0) as http:
            while time.monotonic() < deadline:
                self._check_processes()
                try:
                    response = http.get(f"{self.url}/readyz")
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[-500:]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                time.sleep(0.1)
        raise ControlPlaneError(
            f"kube-apiserver at {self.url} not ready after {timeout:.0f}s ({last}); "
            f"logs in {self.state_dir / 'logs'}"
        )

    def _check_processes(self) -> None:
        for process in self.processes:
            try:
                process.ensure_running()
            except ProcessExitedError as exc:
                if "address already in use" in process.log_tail(60):
                    raise PortInUseError(
                        f"{process.name} could not listen: a port it wanted ({self.ports}) "
                        f"is already in use; log {process.record.log}"
                    ) from exc
                raise ControlPlaneError(str(exc)) from exc

    def api_client(self) -> k8s_client.ApiClient:
        """A kubernetes ApiClient for the admin user; close it when done."""
        return api_client_from(self.kubeconfig)

    def stop(self) -> None:
        """Stop kube-apiserver first (it would log etcd errors otherwise), then etcd."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
