"""The tools around the product: the local control plane and emulated Spark (``devenv``), the
dashboard, the load generator, the demo, the benchmarks and the real-Spark pieces (the IoT job,
the in-driver executor agent, a standalone cluster)."""
