"""Training: the cross-modal contrastive loss, the loop, learning-rate schedule and checkpoints."""
