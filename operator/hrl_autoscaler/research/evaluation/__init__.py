"""Compare controllers on the simulator: ``hrl-autoscaler evaluate``."""
