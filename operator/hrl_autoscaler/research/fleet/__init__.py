"""Many simulated applications under one ExecutorBudget, all run by one operator ``Autoscaler``.

Issue 13 asks whether the budget's arbitration (Whittle index by default) serves a fleet better
than the simple policies, and whether the budget is a hard limit at every instant. Measuring it
on the deployed path matters more than measuring a copy, so the fleet is N simulated
SparkApplications behind the operator's own ports (:mod:`hrl_autoscaler.research.sim.adapters`)
and one :class:`~hrl_autoscaler.runtime.core.pipeline.Autoscaler` with one budget covering them.

- :mod:`.composition`: who is in the fleet (scenarios, phases, peaks, SLO classes) per seed;
- :mod:`.oracle`: the bound: the best allocation with the future load known;
- :mod:`.simulator`: one fleet run, step by step, with the exceedance check at every step;
- :mod:`.metrics`: a run's fleet SLO score, cost, utilisation, fairness; CIs over seeds;
- :mod:`.runner`: policies x seeds;
- :mod:`.report`: the table (terminal, markdown, CSV) and the allocation plot.
"""
