"""Sampling from any model (left-padded, seeded); the rollout engine of the online loop builds on it."""
