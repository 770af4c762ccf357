"""``hrl-autoscaler train``: the PPO executor policy or a TD3 meta-controller."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrl_autoscaler.cli.common import console
from hrl_autoscaler.runtime.core.objectives import OBJECTIVES
from hrl_autoscaler.tools.argtypes import integer, number

DESCRIPTION = (
    "train ppo: the contextual PPO executor policy (weights drawn per episode, "
    "scenarios mixed). train meta: a TD3 meta-controller for one objective on top of a frozen "
    "PPO policy. Both show a progress bar and write SB3 files, a numpy export, a learning "
    "curve and metadata.json (sha256 of every file) into --out."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("agent", choices=["ppo", "meta"], help="which agent")
    parser.add_argument(
        "--timesteps", type=integer(1), help="environment steps (default: the config's)"
    )
    parser.add_argument("--out", type=Path, required=True, help="artifact directory to write")
    parser.add_argument(
        "--ppo", type=Path, default=Path("policies/ppo"), help="frozen PPO artifact (meta only)"
    )
    parser.add_argument(
        "--objective", choices=OBJECTIVES, default="slo", help="meta only (default %(default)s)"
    )
    parser.add_argument(
        "--gamma", type=float, help="TD3 discount (meta only; default: the config's)"
    )
    parser.add_argument(
        "--staged",
        action="store_true",
        help="ppo only: train the proposal to the operator's decision stages (DS2 fallback, "
        "SLO guard, trim, caps, forecasts, guardrails) instead of the executor count itself",
    )
    parser.add_argument(
        "--init-from",
        type=Path,
        help="ppo only: continue training this artifact (its ppo.zip and vecnormalize.pkl)",
    )
    parser.add_argument(
        "--learning-rate", type=number(), help="ppo only (default: the config's, 3e-4)"
    )
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    # torch and stable-baselines3 load here, never for --help
    try:
        if args.agent == "ppo":
            from hrl_autoscaler.research.train.ppo import PPOConfig, train_ppo

            meta = train_ppo(
                PPOConfig(
                    timesteps=args.timesteps or PPOConfig.timesteps,
                    seed=args.seed,
                    staged=args.staged,
                    init_from=str(args.init_from) if args.init_from else None,
                    learning_rate=args.learning_rate or PPOConfig.learning_rate,
                ),
                args.out,
            )
        else:
            from hrl_autoscaler.research.train.meta import MetaConfig, train_meta

            config = MetaConfig(
                objective=args.objective,
                timesteps=args.timesteps or MetaConfig.timesteps,
                gamma=args.gamma if args.gamma is not None else MetaConfig.gamma,
                seed=args.seed,
            )
            meta = train_meta(config, args.ppo, args.out)
    except ImportError as exc:
        raise SystemExit(
            f"training needs the [train] extra (torch, stable-baselines3): {exc}"
        ) from None
    except FileNotFoundError as exc:  # --init-from without an artifact
        raise SystemExit(f"train {args.agent}: {exc}") from None
    training = meta["training"]
    console.print(
        f"trained {training['algorithm']} for {training['timesteps']:,} steps "
        f"in {training['seconds']:.0f} s; "
        f"final mean return {training['final_mean_return']}; wrote {args.out}"
    )
    return 0
