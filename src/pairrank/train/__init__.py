"""One training loop for the torch models: early stopping, checkpoints, resume, DDP."""
