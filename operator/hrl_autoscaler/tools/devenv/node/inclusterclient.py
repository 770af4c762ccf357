"""``k8s-whoami``: a static in-cluster API client for the test image, built from Go's stdlib.

Debian's busybox-static cannot do it: its ``wget`` segfaults (even on the host, before any
network I/O) and its own TLS (``ssl_client``) fails the API server's handshake (alert 40). This
program does what every in-cluster client does: read the projected service-account token and
``ca.crt``, verify the API server's certificate against that CA at
``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``, and ask who it is
(``SelfSubjectReview``); it prints the answer's JSON. Stdlib only, so it builds in seconds
without the module proxy; cached by the hash of its source.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from hrl_autoscaler.tools.devenv import binaries as bins
from hrl_autoscaler.tools.devenv.gorunner import find_go, go_environment

SOURCE = r"""package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"

func main() {
	token, err := os.ReadFile(sa + "token")
	check(err)
	ca, err := os.ReadFile(sa + "ca.crt")
	check(err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		check(fmt.Errorf("no certificate in ca.crt"))
	}
	host := "kubernetes.default.svc"
	if len(os.Args) > 1 {
		host = os.Args[1]
	} else if h := os.Getenv("KUBERNETES_SERVICE_HOST"); h != "" {
		host = net.JoinHostPort(h, os.Getenv("KUBERNETES_SERVICE_PORT"))
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`
	url := "https://" + host + "/apis/authentication.k8s.io/v1/selfsubjectreviews"
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	check(err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	check(err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	check(err)
	if resp.StatusCode != 201 && resp.StatusCode != 200 {
		check(fmt.Errorf("HTTP %d: %s", resp.StatusCode, out))
	}
	fmt.Println(string(out))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-whoami:", err)
		os.Exit(1)
	}
}
"""

NAME = "k8s-whoami"


def build() -> Path:
    """The static binary, built once per source (CGO off: runs in a busybox image)."""
    key = hashlib.sha256(SOURCE.encode()).hexdigest()[:16]
    output = bins.cache_root() / "images" / f"{NAME}-{key}"
    if output.is_file():
        return output
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=output.parent))
    try:
        (work / "go.mod").write_text(f"module hrl-autoscaler.local/{NAME}\n\ngo 1.22\n")
        (work / "main.go").write_text(SOURCE)
        result = subprocess.run(
            [str(find_go()), "build", "-trimpath", "-ldflags=-s -w", "-o", str(work / NAME), "."],
            cwd=work,
            env=go_environment(bins.cache_root()),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"building {NAME} failed: {result.stderr.strip()}")
        (work / NAME).replace(output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return output
