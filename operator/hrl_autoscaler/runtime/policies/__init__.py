"""Load and run frozen policy artifacts with numpy only: deciding needs no torch."""
