"""Registration of the project's Gymnasium environments under the ``hrl_autoscaler/`` namespace."""

from __future__ import annotations

import gymnasium

IOT_ENV_ID = "hrl_autoscaler/IoTSparkStreaming-v0"
META_ENV_ID = "hrl_autoscaler/MetaController-v0"


def register_environments() -> None:
    if IOT_ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=IOT_ENV_ID, entry_point="hrl_autoscaler.research.sim.env:IoTSparkStreamingEnv"
        )
    if META_ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=META_ENV_ID, entry_point="hrl_autoscaler.research.sim.meta_env:MetaControllerEnv"
        )
