"""Metrics shared by training, evaluation and the pipeline: segmentation and classification."""
