"""The running operator: wiring, the decision loop task, its metrics and HTTP endpoints."""
