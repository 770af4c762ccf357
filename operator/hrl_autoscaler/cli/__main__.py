"""``python -m hrl_autoscaler.cli``: the ``hrl-autoscaler`` command without the console script."""

import sys

from hrl_autoscaler.cli import main

sys.exit(main())
