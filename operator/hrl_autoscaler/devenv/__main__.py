"""``python -m hrl_autoscaler.devenv build|up|status|down`` (the Makefile builds with this)."""

import sys

from hrl_autoscaler.devenv.cli import main

sys.exit(main())
