"""Training: one shared loop (``loop.fit``), the diffusion objective, checkpoints, adapters."""
