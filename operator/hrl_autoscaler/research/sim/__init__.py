"""The simulated Spark streaming cluster, its workloads and the Gymnasium environments."""
