"""GAN: training step, evaluation (Frechet distance, coverage, memorization),
data, sampling, scoring and the report's figures and sections."""
