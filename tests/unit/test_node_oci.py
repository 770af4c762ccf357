"""The hand-written OCI archive: layout, digests, and what ``ctr images import`` reads."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from hrl_autoscaler.tools.devenv.node.images import busybox_spec
from hrl_autoscaler.tools.devenv.node.oci import ImageSpec, LayerEntry, write_archive


def _read(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_archive_is_a_consistent_oci_layout(tmp_path: Path) -> None:
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF fake")
    spec = ImageSpec("example.local/pause:3.10", [LayerEntry("pause", source=binary)], ["/pause"])
    digest = write_archive(spec, tmp_path / "pause.tar")
    files = _read(tmp_path / "pause.tar")
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(files["index.json"])
    entry = index["manifests"][0]
    assert entry["digest"] == digest
    assert entry["annotations"]["io.containerd.image.name"] == "example.local/pause:3.10"
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "3.10"
    manifest = json.loads(files["blobs/sha256/" + digest.split(":")[1]])
    config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
    layer_digest = manifest["layers"][0]["digest"]
    assert config["rootfs"]["diff_ids"] == [layer_digest]  # uncompressed layer
    assert config["config"]["Entrypoint"] == ["/pause"]
    layer = files["blobs/sha256/" + layer_digest.split(":")[1]]
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        member = tar.getmember("pause")
        assert (member.uid, member.mtime, member.mode) == (0, 0, 0o755)


def test_archive_is_deterministic(tmp_path: Path) -> None:
    binary = tmp_path / "b"
    binary.write_bytes(b"x")
    spec = ImageSpec("a.local/b:1", [LayerEntry("b", source=binary), LayerEntry("sh", target="b")])
    assert write_archive(spec, tmp_path / "1.tar") == write_archive(spec, tmp_path / "2.tar")


def test_busybox_image_links_the_applets_the_tests_use(tmp_path: Path) -> None:
    binary = tmp_path / "busybox"
    binary.write_bytes(b"bb")
    spec = busybox_spec(binary)
    links = {e.path.split("/")[-1]: e.target for e in spec.entries if e.target}
    for applet in ("sh", "nslookup", "wget", "httpd", "nc"):
        assert links[applet] == "busybox"
