"""``python -m hrl_autoscaler.tools.devenv build|up|status|down`` (the Makefile builds with it)."""

import sys

from hrl_autoscaler.tools.devenv.cli import main

sys.exit(main())
