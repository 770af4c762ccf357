"""The argparse value types every subcommand shares: what they accept and how they refuse."""

from __future__ import annotations

import argparse

import pytest

from hrl_autoscaler.tools.argtypes import integer, number, positive_list


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (number(), "0", "must be a finite number > 0, got 0"),
        (number(), "nan", "must be a finite number > 0, got nan"),
        (number(), "inf", "must be a finite number > 0, got inf"),
        (number(), "fast", "'fast' is not a number"),
        (number(0.0, strict=False), "-1", "must be a finite number >= 0, got -1"),
        (integer(1), "0", "must be an integer >= 1, got 0"),
        (integer(0, 65535), "70000", "must be an integer in [0, 65535], got 70000"),
        (integer(1), "2.5", "'2.5' is not an integer"),
        (positive_list(int, "executor counts"), "1,x", "not a comma-separated list of executor"),
        (positive_list(float, "events/s"), "100,-5", "expected positive events/s, got '100,-5'"),
        (positive_list(float, "events/s"), ",", "expected positive events/s"),
    ],
)
def test_bad_values_are_refused_with_what_is_accepted(
    parse: object, text: str, message: str
) -> None:
    assert callable(parse)
    with pytest.raises(argparse.ArgumentTypeError, match=message.replace("[", r"\[")):
        parse(text)


def test_good_values_parse() -> None:
    assert number()("2.5") == 2.5
    assert number(0.0, strict=False)("0") == 0.0
    assert integer(0, 65535)("8080") == 8080
    assert positive_list(int, "executor counts")("1, 2,") == (1, 2)


def test_argparse_names_the_option() -> None:
    parser = argparse.ArgumentParser(prog="x", exit_on_error=False)
    parser.add_argument("--speed", type=number())
    with pytest.raises(argparse.ArgumentError, match="argument --speed: must be a finite number"):
        parser.parse_args(["--speed", "-1"])
