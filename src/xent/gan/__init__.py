"""GAN: training step, evaluation (Frechet distance, coverage, memorization)."""
