"""Benchmarks quoted in issues and notes: ``hrl-autoscaler bench ...``."""
