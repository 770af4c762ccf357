"""The two consoles every command writes to: progress and errors on stderr, results on stdout."""

from __future__ import annotations

import sys

from rich.console import Console

#: Progress, status and errors (stderr), so that stdout carries only results.
console = Console(stderr=True)
#: Results: tables and JSON (a fixed width when piped, so lines are not cut at 80 columns).
out = Console(width=None if sys.stdout.isatty() else 160)
