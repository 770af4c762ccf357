"""Calibration: measure the real IoT job on Spark, fit the simulator's parameters to it.

``measure`` runs the job on a standalone cluster under rising load and collects every
micro-batch; ``fit`` fits ``SimParams`` with the simulator's own cluster model; ``build``
judges the fit; ``schema`` is the calibration file and its validating loader
(``load_sim_params``, what ``evaluate --calibration`` uses); ``report`` writes the plot and
tables.
"""
