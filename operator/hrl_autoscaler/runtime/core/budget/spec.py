"""The ``ExecutorBudget`` object (``hrl-autoscaler.io/v1alpha1``), checked field by field.

A budget covers the enabled SparkApplications its namespaces and label selector match, and
limits the sum of their executor targets by ``maxExecutors`` and/or ``maxCostPerHour`` (each
application's executors priced at its ``cost-per-executor-hour``). Every rejected field is named
with the value given and what is accepted; the operator keeps enforcing the last good spec.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BUDGET_GROUP = "hrl-autoscaler.io"
BUDGET_VERSION = "v1alpha1"
BUDGET_PLURAL = "executorbudgets"
BUDGET_KIND = "ExecutorBudget"
BUDGET_API_VERSION = f"{BUDGET_GROUP}/{BUDGET_VERSION}"

#: The arbitration policies a budget may name (``policies.POLICIES`` implements each).
POLICY_NAMES = (
    "whittle",
    "learned-whittle",
    "equal-share",
    "proportional",
    "static-priority",
    "first-come",
)
PolicyName = Literal[
    "whittle", "learned-whittle", "equal-share", "proportional", "first-come", "static-priority"
]

#: The allocation interval's default, s: between the fast loop (30 s) and the meta loop
#: (600 s), as the two-timescale design needs; long enough that a cap outlives an executor's
#: start-up (45 s) several times, short enough to follow a rush hour.
DEFAULT_INTERVAL_S = 120.0
MIN_INTERVAL_S = 10.0
MAX_INTERVAL_S = 86_400.0
MAX_BUDGET_EXECUTORS = 100_000
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True, order=True)
class BudgetKey:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class LabelRequirement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values(self) -> LabelRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if self.operator == "In":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


class LabelSelector(BaseModel):
    """A Kubernetes label selector (``matchLabels`` and ``matchExpressions``, all ANDed)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[LabelRequirement, ...] = Field(default=(), alias="matchExpressions")

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            r.matches(labels) for r in self.match_expressions
        )


class BudgetSpec(BaseModel):
    """``spec`` of an ExecutorBudget. At least one of the two limits must be given."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    namespaces: tuple[str, ...] = ()
    """Namespaces whose applications it covers; empty = the budget's own namespace."""
    selector: LabelSelector = Field(default_factory=LabelSelector)
    """Which applications in those namespaces (empty = all enabled ones)."""
    max_executors: int | None = Field(
        default=None, ge=1, le=MAX_BUDGET_EXECUTORS, alias="maxExecutors"
    )
    max_cost_per_hour: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, alias="maxCostPerHour"
    )
    policy: PolicyName = "whittle"
    interval_seconds: float = Field(
        default=DEFAULT_INTERVAL_S,
        ge=MIN_INTERVAL_S,
        le=MAX_INTERVAL_S,
        allow_inf_nan=False,
        alias="intervalSeconds",
    )

    @model_validator(mode="after")
    def _a_limit(self) -> BudgetSpec:
        if self.max_executors is None and self.max_cost_per_hour is None:
            raise ValueError("set maxExecutors, maxCostPerHour or both")
        return self

    def covers_namespace(self, budget_namespace: str, namespace: str) -> bool:
        return namespace in (self.namespaces or (budget_namespace,))

    def executor_limit(self, prices: Sequence[float]) -> int | None:
        """Not used by the allocation (which prices each executor); a one-number summary for
        status when every covered application has the same price."""
        limits: list[int] = []
        if self.max_executors is not None:
            limits.append(self.max_executors)
        if self.max_cost_per_hour is not None and prices and len(set(prices)) == 1:
            limits.append(math.floor(self.max_cost_per_hour / prices[0] + 1e-9))
        return min(limits) if limits else None


#: What each field accepts, for error messages (pydantic's own text is for developers).
ACCEPTED = {
    "namespaces": "a list of namespace names (empty: the budget's own namespace)",
    "selector": "a label selector: matchLabels (string map) and/or matchExpressions "
    f"(key, operator one of {', '.join(OPERATORS)}, values)",
    "maxExecutors": f"an integer from 1 to {MAX_BUDGET_EXECUTORS}",
    "maxCostPerHour": "a number above 0 (currency per hour, priced at each application's "
    "cost-per-executor-hour)",
    "policy": f"one of {', '.join(POLICY_NAMES)}",
    "intervalSeconds": f"a number of seconds from {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g}",
    "spec": "an object with maxExecutors and/or maxCostPerHour",
}


@dataclass(frozen=True)
class BudgetFieldError:
    field: str
    """The field's path in the object, e.g. ``spec.maxExecutors``."""
    value: str
    accepted: str

    def __str__(self) -> str:
        return f"{self.field}={self.value}: expected {self.accepted}"


@dataclass(frozen=True)
class ParsedBudget:
    key: BudgetKey
    uid: str
    generation: int
    created: str
    """``metadata.creationTimestamp`` (RFC 3339; orders budgets that cover one application)."""
    spec: BudgetSpec | None
    errors: tuple[BudgetFieldError, ...] = ()
    status: Mapping[str, Any] | None = None
    """The stored status (the last allocation survives an operator restart through it)."""


def parse_budget(body: Mapping[str, Any]) -> ParsedBudget:
    """The budget object as the watch delivers it -> its spec, or the errors naming each field."""
    meta = body.get("metadata") or {}
    key = BudgetKey(str(meta.get("namespace") or "default"), str(meta.get("name") or ""))
    raw_status = body.get("status")
    common: dict[str, Any] = {
        "key": key,
        "uid": str(meta.get("uid") or ""),
        "generation": _int(meta.get("generation")),
        "created": str(meta.get("creationTimestamp") or ""),
        "status": raw_status if isinstance(raw_status, Mapping) else None,
    }
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return ParsedBudget(
            spec=None, errors=(BudgetFieldError("spec", repr(spec), ACCEPTED["spec"]),), **common
        )
    try:
        return ParsedBudget(spec=BudgetSpec.model_validate(dict(spec)), **common)
    except ValidationError as exc:
        return ParsedBudget(spec=None, errors=_field_errors(exc, spec), **common)


def _field_errors(exc: ValidationError, spec: Mapping[str, Any]) -> tuple[BudgetFieldError, ...]:
    errors: dict[str, BudgetFieldError] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        top = loc[0] if loc else "spec"
        if top not in ACCEPTED:
            top = "spec"
        field = "spec" if top == "spec" and not loc else f"spec.{'.'.join(loc)}"
        if error["type"] == "extra_forbidden":
            accepted = f"one of the fields {', '.join(k for k in ACCEPTED if k != 'spec')}"
        elif not loc:
            accepted = f"{ACCEPTED['spec']} ({error['msg'].removeprefix('Value error, ')})"
        else:
            accepted = ACCEPTED[top]
        shown = _show(spec.get(loc[0])) if loc else "neither limit given"
        errors.setdefault(field, BudgetFieldError(field, shown, accepted))
    return tuple(errors.values())


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
