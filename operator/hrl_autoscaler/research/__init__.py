"""The research side: the simulator, the baselines and oracle, evaluation, training and the
simulator's calibration against real Spark. It imports the runtime's core (the decision path it
evaluates and trains), never the other way round."""
