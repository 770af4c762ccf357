"""The controllers we must beat, behind the same interface as the RL agents."""
