"""The operator runtime: what runs in the cluster.

``core`` is the pure decision path (no kopf or Kubernetes imports) that evaluation and training
share; ``policies`` loads the frozen PPO policy and TD3 actors; ``k8s`` holds the adapters to
the API server and Prometheus; ``service`` runs the loop, health and metrics; ``handlers`` is
the kopf layer.
"""
