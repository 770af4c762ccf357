"""spark-hrl-autoscaler: autoscale Spark streaming applications with hierarchical RL.

Importing the package registers the Gymnasium environments (``hrl_autoscaler/...``) so that
``gymnasium.make("hrl_autoscaler/IoTSparkStreaming-v0")`` works after ``import hrl_autoscaler``.
"""

from hrl_autoscaler.research.sim.registration import register_environments

__version__ = "0.1.0"

register_environments()
