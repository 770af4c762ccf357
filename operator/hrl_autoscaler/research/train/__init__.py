"""Training of the PPO executor policy and the TD3 meta-controller (the ``[train]`` extra)."""
