"""Pure decision logic shared by the simulator and the operator (no kopf or kubernetes imports)."""
