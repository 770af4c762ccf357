"""Certificates and keys for a throwaway kube-apiserver, made with the ``openssl`` CLI.

kube-apiserver only serves TLS and authenticates clients; RBAC needs a real identity. We make a
fresh CA per control plane, a serving certificate for 127.0.0.1/localhost and the in-cluster
names, an admin client certificate in the ``system:masters`` group (what the kubeconfig uses),
and a service-account signing key pair. ECDSA P-256 keys are generated in milliseconds, which
keeps control-plane start-up fast. The ``openssl`` command (Debian package ``openssl``) is used
instead of a Python crypto library so the project adds no dependency for this.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

VALID_DAYS = 365
IN_CLUSTER_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


class CertificateError(RuntimeError):
    """openssl is missing or failed; the message says which step."""


@dataclass(frozen=True)
class ControlPlaneCerts:
    """Paths of every PEM file the control plane and its kubeconfig use."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_pub: Path


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        raise CertificateError(
            "the `openssl` command is missing; install it with "
            "`apt-get install -y --no-install-recommends openssl`"
        )
    return path


def _run(step: str, args: Sequence[str]) -> None:
    result = subprocess.run(
        [_openssl(), *args], capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise CertificateError(f"openssl failed to {step}: {result.stderr.strip()}")


def _new_key(path: Path) -> None:
    _run(
        f"generate key {path.name}",
        ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)],
    )
    path.chmod(0o600)


def _issue(
    directory: Path, name: str, subject: str, extensions: list[str], ca: tuple[Path, Path]
) -> tuple[Path, Path]:
    """Make ``<name>.key`` and ``<name>.crt`` signed by ``ca`` with the given v3 extensions."""
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    ext_file = directory / f"{name}.ext"
    _new_key(key)
    _run(
        f"make a request for {name}",
        ["req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr)],
    )
    ext_file.write_text("\n".join(extensions) + "\n")
    ca_cert, ca_key = ca
    _run(
        f"sign the {name} certificate",
        [
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca_cert),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-days",
            str(VALID_DAYS),
            "-sha256",
            "-extfile",
            str(ext_file),
            "-out",
            str(cert),
        ],
    )
    csr.unlink()
    ext_file.unlink()
    return cert, key


def _subject_alt_names(hosts: Sequence[str]) -> str:
    entries = []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
            entries.append(f"IP:{host}")
        except ValueError:
            entries.append(f"DNS:{host}")
    return "subjectAltName=" + ",".join(entries)


def generate_certs(
    directory: Path,
    *,
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    service_ip: str = "10.0.0.1",
) -> ControlPlaneCerts:
    """Write a CA, serving and admin certificates and a service-account key pair into
    ``directory`` (created if needed; private keys are mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    _new_key(ca_key)
    _run(
        "make the CA certificate",
        [
            "req",
            "-x509",
            "-new",
            "-key",
            str(ca_key),
            "-sha256",
            "-days",
            str(VALID_DAYS),
            "-subj",
            "/CN=hrl-autoscaler-devenv-ca",
            "-out",
            str(ca_cert),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )
    ca = (ca_cert, ca_key)
    leaf = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature"]
    serving_cert, serving_key = _issue(
        directory,
        "apiserver",
        "/CN=kube-apiserver",
        [
            *leaf,
            "extendedKeyUsage=serverAuth",
            _subject_alt_names([*hosts, service_ip, *IN_CLUSTER_NAMES]),
        ],
        ca,
    )
    admin_cert, admin_key = _issue(
        directory,
        "admin",
        "/O=system:masters/CN=hrl-autoscaler-admin",
        [*leaf, "extendedKeyUsage=clientAuth"],
        ca,
    )
    sa_key, sa_pub = directory / "sa.key", directory / "sa.pub"
    _new_key(sa_key)
    _run(
        "derive the service-account public key",
        ["pkey", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)],
    )
    return ControlPlaneCerts(
        ca_cert=ca_cert,
        ca_key=ca_key,
        serving_cert=serving_cert,
        serving_key=serving_key,
        admin_cert=admin_cert,
        admin_key=admin_key,
        service_account_key=sa_key,
        service_account_pub=sa_pub,
    )


def issue_client_cert(
    directory: Path, name: str, subject: str, ca: tuple[Path, Path]
) -> tuple[Path, Path]:
    """A client certificate signed by the control plane's CA (``ca`` = (cert, key)): the identity
    of a node component (``/O=system:nodes/CN=system:node:<name>`` for kubelet, ...)."""
    leaf = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature"]
    return _issue(directory, name, subject, [*leaf, "extendedKeyUsage=clientAuth"], ca)


def issue_serving_cert(
    directory: Path, name: str, hosts: Sequence[str], ca: tuple[Path, Path]
) -> tuple[Path, Path]:
    """A serving certificate for ``hosts`` signed by the control plane's CA, so the node's
    health endpoints (controller manager, scheduler) verify with the CA ``dev status`` trusts."""
    leaf = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature"]
    extensions = [*leaf, "extendedKeyUsage=serverAuth", _subject_alt_names(hosts)]
    return _issue(directory, name, f"/CN={name}", extensions, ca)
