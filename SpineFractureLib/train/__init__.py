"""Training: losses, datasets, distributed set-up, checkpoints and the training loops."""
