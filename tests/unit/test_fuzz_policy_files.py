"""Fuzzing the policy files the operator loads at start: any corruption is a PolicyError that
names the directory, never a crash of another kind, and a policy that loads always decides
within its action space.

Three ways a policy directory goes bad in practice, each a strategy here: the metadata is not
what the runtime expects (hand edits, another release), the archive's bytes are damaged
(truncated copy, bit rot) with the digest either stale or recomputed, and the archive is a valid
numpy file whose arrays have the wrong shapes or values (a retrained network that does not fit
this runtime) with a correct digest, which only the shape checks can catch. The example count
follows ``HRL_FUZZ_EXAMPLES`` (the bench runs many more: bench/fuzz_inputs.py).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hrl_autoscaler.runtime.core.meta import META_SCHEMA_VERSION, META_SIZE
from hrl_autoscaler.runtime.core.observation import OBS_SCHEMA_VERSION, OBS_SIZE
from hrl_autoscaler.runtime.policies import meta as meta_policy
from hrl_autoscaler.runtime.policies import ppo as ppo_policy
from hrl_autoscaler.runtime.policies.artifacts import PolicyError, sha256_file

FUZZ = settings(
    max_examples=int(os.environ.get("HRL_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

REPO = Path(__file__).resolve().parents[2]


def _real_arrays(directory: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(directory / name, allow_pickle=False) as data:
        return {k: np.asarray(data[k]) for k in data.files}


PPO_ARRAYS = _real_arrays(REPO / "policies" / "ppo", "policy.npz")
META_ARRAYS = _real_arrays(REPO / "policies" / "meta-slo", "actor.npz")

KINDS = {
    "ppo": (ppo_policy.NumpyPPOPolicy, ppo_policy.KIND, OBS_SCHEMA_VERSION, PPO_ARRAYS),
    "meta": (meta_policy.NumpyMetaActor, meta_policy.KIND, META_SCHEMA_VERSION, META_ARRAYS),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _write(directory: Path, kind: str, archive: bytes, meta: dict[str, Any] | None) -> None:
    _, kind_name, schema, _ = KINDS[kind]
    (directory / "weights.npz").write_bytes(archive)
    if meta is None:
        meta = {
            "kind": kind_name,
            "schema_version": schema,
            "runtime_file": "weights.npz",
            "files": {"weights.npz": sha256_file(directory / "weights.npz")},
            "action": {"min_executors": 1},
        }
    (directory / "metadata.json").write_text(json.dumps(meta))


def _check_loads_or_refuses(directory: Path, kind: str) -> None:
    cls = KINDS[kind][0]
    refused: PolicyError | None = None
    try:
        policy = cls.load(directory)
    except PolicyError as exc:
        refused = exc
    if refused is not None:
        assert str(directory) in str(refused), refused  # the message says which policy
        return
    # A loaded policy decides within its action space, or (finite weights overflowing on this
    # input) refuses with a PolicyError naming it, which the operator isolates to one step.
    rng = np.random.default_rng(0)
    try:
        if kind == "ppo":
            assert isinstance(policy, ppo_policy.NumpyPPOPolicy)
            for obs in rng.normal(0, 1e3, size=(4, OBS_SIZE)):
                count = policy.executors(obs)
                assert policy.min_executors <= count < policy.min_executors + ppo_policy.ACTIONS
        else:
            assert isinstance(policy, meta_policy.NumpyMetaActor)
            weights = policy.weights(rng.normal(0, 1, size=META_SIZE))
            assert all(np.isfinite([weights.alpha, weights.beta, weights.gamma]))
    except PolicyError as exc:
        refused = exc
    if refused is not None:
        assert str(directory) in str(refused), refused


@st.composite
def reshaped_arrays(draw: st.DrawFn, kind: str) -> dict[str, np.ndarray]:
    """The real arrays with some replaced by arrays of other shapes, values or kinds, or dropped."""
    arrays = dict(KINDS[kind][3])
    for name in draw(st.lists(st.sampled_from(sorted(arrays)), max_size=3, unique=True)):
        change = draw(st.sampled_from(["drop", "shape", "values", "scalar"]))
        if change == "drop":
            del arrays[name]
        elif change == "shape":
            shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=70))
            arrays[name] = draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2)))
        elif change == "values":
            arrays[name] = draw(
                hnp.arrays(np.float64, arrays[name].shape, elements=st.floats(allow_nan=True))
            )
        else:
            arrays[name] = np.asarray(draw(st.floats(allow_nan=True, allow_infinity=True)))
    return arrays


@FUZZ
@given(kind=st.sampled_from(sorted(KINDS)), data=st.data())
def test_arrays_of_the_wrong_shape_or_value_are_refused_naming_the_policy(
    kind: str, data: st.DataObject
) -> None:
    arrays = data.draw(reshaped_arrays(kind))
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp), kind, _npz_bytes(arrays), None)
        _check_loads_or_refuses(Path(tmp), kind)


@FUZZ
@given(
    kind=st.sampled_from(sorted(KINDS)),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=6),
    rehash=st.booleans(),
)
def test_damaged_archives_are_refused_naming_the_policy(
    kind: str, cut: float, flips: list[tuple[float, int]], rehash: bool
) -> None:
    good = bytearray(_npz_bytes(KINDS[kind][3]))
    damaged = good[: max(1, int(len(good) * cut))] if cut < 1 else good
    for where, xor in flips:
        damaged[int(where * (len(damaged) - 1))] ^= xor
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        _write(directory, kind, bytes(good), None)
        (directory / "weights.npz").write_bytes(bytes(damaged))
        if rehash:  # someone re-ran the digest over the damaged file
            _write(directory, kind, bytes(damaged), None)
        _check_loads_or_refuses(directory, kind)


@FUZZ
@given(kind=st.sampled_from(sorted(KINDS)), patch=st.dictionaries(
    st.sampled_from(["kind", "schema_version", "runtime_file", "files", "action", "objective"]),
    json_values,
    max_size=3,
), raw=st.one_of(st.none(), st.binary(max_size=64)))  # fmt: skip
def test_any_metadata_is_a_clear_error_or_a_working_policy(
    kind: str, patch: dict[str, Any], raw: bytes | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        _write(directory, kind, _npz_bytes(KINDS[kind][3]), None)
        if raw is not None:
            (directory / "metadata.json").write_bytes(raw)
        else:
            meta = json.loads((directory / "metadata.json").read_text())
            (directory / "metadata.json").write_text(json.dumps({**meta, **patch}))
        _check_loads_or_refuses(directory, kind)
