"""Training loops (offline: batch → loss → step) and what they share: optimizers, checkpoints, signals."""
