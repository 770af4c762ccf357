"""The operator-wide per-application defaults, and where each one was set.

An application without an annotation gets the operator's ``defaults`` (the chart's
``defaults.*`` values, a settings file, ``HRL_AUTOSCALER_DEFAULTS__*``), else the built-in value.
``explain`` runs outside the operator, so it reads the same sources the operator reads:

- ``--config FILE`` (or ``$HRL_AUTOSCALER_CONFIG``): as ``hrl-autoscaler run`` does, the file
  and this process's environment, validated by :func:`load_operator_settings`;
- else the chart's ConfigMap (``<release>-config``, key ``config.yaml``): its ``defaults``
  only; the Deployment's environment is not read (the chart sets none of these);
- else the built-in defaults, with a note that the operator may run with others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hrl_autoscaler.config import AnnotationDefaults
from hrl_autoscaler.config.operator import CONFIG_FILE_ENV, OPERATOR_ENV_PREFIX

CONFIG_KEY = "config.yaml"
"""The key of the chart's ConfigMap that holds the operator's settings file."""
DEFAULTS_ENV = OPERATOR_ENV_PREFIX + "DEFAULTS"


@dataclass(frozen=True)
class OperatorDefaults:
    """The per-application defaults in force, with the origin of each field that is not
    built in (field -> ("config" | "environment", which file, ConfigMap or variable))."""

    defaults: AnnotationDefaults
    origins: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    source: str = "built-in defaults only"
    """Where the operator's settings were read, for the header of the explanation."""

    def origin(self, name: str) -> tuple[str, str]:
        return self.origins.get(name, ("default", ""))


def built_in(note: str = "built-in defaults only") -> OperatorDefaults:
    return OperatorDefaults(AnnotationDefaults(), {}, note)


def _yaml_defaults(text: str, where: str) -> dict[str, Any]:
    """The ``defaults`` mapping of a settings YAML (empty when it sets none)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{where} is not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where} is not a mapping of settings")
    section = data.get("defaults") or {}
    if not isinstance(section, dict):
        raise ValueError(f"{where}: defaults is not a mapping")
    return {str(k): v for k, v in section.items()}


def _env_fields(environ: Mapping[str, str]) -> dict[str, str]:
    """Defaults fields set in the environment -> the variable that sets them.

    pydantic-settings reads variable names case-insensitively, nested fields joined by ``__``
    (``HRL_AUTOSCALER_DEFAULTS__MODE``), or the whole section as JSON (``..._DEFAULTS``).
    """
    found: dict[str, str] = {}
    nested = (DEFAULTS_ENV + "__").lower()
    for variable, value in environ.items():
        lower = variable.lower()
        if lower == DEFAULTS_ENV.lower():
            try:
                section = json.loads(value)
            except ValueError:
                continue
            if isinstance(section, dict):
                found.update({str(k): variable for k in section})
        elif lower.startswith(nested):
            found[lower[len(nested) :]] = variable
    return found


def from_file(path: Path | None, environ: Mapping[str, str] | None = None) -> OperatorDefaults:
    """The defaults ``hrl-autoscaler run --config path`` would run with (file < environment).

    ``path`` None: ``$HRL_AUTOSCALER_CONFIG``, as ``run`` reads it; neither: the environment
    over the built-in values. Raises ValueError naming a bad key or value.
    """
    from hrl_autoscaler.config import load_operator_settings

    environ = os.environ if environ is None else environ
    if path is None and environ.get(CONFIG_FILE_ENV):
        path = Path(environ[CONFIG_FILE_ENV])
    try:
        settings = load_operator_settings(path)
    except ValidationError as exc:
        raise ValueError(f"operator settings {path or '(environment)'}: {exc}") from None
    origins: dict[str, tuple[str, str]] = {}
    if path is not None:
        for name in _yaml_defaults(path.read_text(encoding="utf-8"), str(path)):
            origins[name] = ("config", str(path))
    for name, variable in _env_fields(environ).items():
        origins[name] = ("environment", variable)
    source = f"file {path}" if path is not None else "environment"
    if path is not None and any(o == "environment" for o, _ in origins.values()):
        source += " and environment"
    return OperatorDefaults(settings.defaults, origins, source)


def from_configmap(text: str, where: str) -> OperatorDefaults:
    """The defaults of the chart's ConfigMap ``where`` (its ``config.yaml`` text)."""
    section = _yaml_defaults(text, where)
    try:
        defaults = AnnotationDefaults.model_validate(section)
    except ValidationError as exc:
        raise ValueError(f"{where}: defaults: {exc}") from None
    return OperatorDefaults(defaults, dict.fromkeys(section, ("config", where)), where)
