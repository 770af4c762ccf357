"""The ``hrl-autoscaler`` command line: one table of subcommands, each a module with
``add_arguments`` and ``run``, every ``--help`` parsing, and ``--help`` staying light."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hrl_autoscaler.cli import BY_NAME, SUBCOMMANDS, build_parser, description, main

NAMES = [s.name for s in SUBCOMMANDS]


def test_the_table_keeps_todays_subcommands() -> None:
    assert sorted(NAMES) == sorted(
        [
            "evaluate",
            "evaluate-fleet",
            "ablation",
            "heldout",
            "loadgen",
            "calibrate",
            "train",
            "scenarios",
            "bench",
            "run",
            "explain",
            "demo",
            "dev",
            "dashboard",
            "kafka-lag-exporter",
        ]
    )
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_has_a_module_with_add_arguments_and_run(name: str) -> None:
    module = BY_NAME[name].load()
    for function, parameters in (("add_arguments", ["parser"]), ("run", ["args"])):
        assert callable(getattr(module, function, None)), f"{module.__name__}.{function}"
        assert list(inspect.signature(getattr(module, function)).parameters) == parameters


@pytest.mark.parametrize("name", NAMES)
def test_every_subcommand_help_parses(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: hrl-autoscaler {name}" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["build", "up", "status", "down"])
def test_dev_subcommands_are_argparse_subparsers(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dev", command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: hrl-autoscaler dev {command}" in capsys.readouterr().out


def test_the_top_level_help_lists_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert description() in text
    listed = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
    for entry in SUBCOMMANDS:
        assert listed[entry.name].endswith(f"  {entry.help}")


def test_no_subcommand_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "Subcommands:" in capsys.readouterr().out


def test_the_full_parser_defines_every_subcommand() -> None:
    parser = build_parser()
    args = parser.parse_args(["bench", "sim", "--steps", "7"])
    assert (args.command, args.target, args.steps) == ("bench", "sim", 7)
    args = parser.parse_args(["dev", "status", "--json"])
    assert (args.command, args.dev_command, args.json) == ("dev", "status", True)


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["evaluate", "--help"]])
def test_help_does_not_import_torch(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from hrl_autoscaler.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=True,
    )
    assert "HEAVY []" in done.stderr, done.stderr


def test_train_ppo_refuses_a_bad_learning_rate_and_a_missing_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "ppo", "--learning-rate", "-1", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--learning-rate: must be a finite number > 0" in capsys.readouterr().err
    pytest.importorskip("stable_baselines3")
    with pytest.raises(SystemExit, match=r"init_from: .* has no ppo.zip"):
        main(["train", "ppo", "--init-from", str(tmp_path), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
