"""Reward functions. The built-in task's gold reward is VADER (`rewards.gold`)."""
