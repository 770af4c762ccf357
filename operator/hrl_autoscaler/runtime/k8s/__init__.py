"""Adapters between the pure decision loop and the world: Kubernetes API, Prometheus, events.

Each module implements one of the interfaces of :mod:`hrl_autoscaler.runtime.core.ports` and
nothing else; none of them decides anything.
"""
