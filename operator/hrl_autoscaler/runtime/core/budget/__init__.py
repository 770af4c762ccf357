"""One executor budget shared by many applications: the slow global controller (seed 004).

- :mod:`.spec`: the ``ExecutorBudget`` object users write, validated field by field;
- :mod:`.claims`: what each covered application asks of the budget (its bounds, demand,
  forecast load, measured executor rate, SLO, weights, priority, price);
- :mod:`.value`: the cluster model's value of one more executor for an application;
- :mod:`.policies`: the arbitration policies (Whittle index by default) turning claims into caps;
- :mod:`.learned`: the two-timescale Q-learning of the index (an option, compared);
- :mod:`.controller`: budgets -> coverage -> claims -> caps every interval, with status and events;
- :mod:`.gate`: the fast loop's scale-ups admitted only into the headroom the written targets
  leave, after the cycle's scale-downs, so the sum of targets never exceeds the budget.

Pure, like the rest of ``runtime/core``: the Kubernetes adapter feeds budget objects in and
writes status and events out.
"""
