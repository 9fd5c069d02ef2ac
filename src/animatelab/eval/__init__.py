"""Evaluation: FVD, CLIP scores, temporal consistency, synthetic ground truth, confidence intervals."""
