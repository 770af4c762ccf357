"""The emulated Spark data plane: plays the Spark Operator and Spark for every SparkApplication.

No kubelet runs on the local control plane, so nothing would ever run a SparkApplication. The
emulator watches them through the real API server, moves their status through the Spark
Operator's states, runs the simulator's cluster model in (accelerated) real time under a
workload chosen per application, and serves Spark 4's metric names for a real Prometheus.
"""
