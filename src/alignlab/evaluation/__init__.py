"""Evaluation of trained policies on held-out prompts (one evaluation for every method)."""
