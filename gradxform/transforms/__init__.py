"""Primitives, by family: each does one thing to the update."""
