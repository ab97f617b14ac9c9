"""Pipelines: segmentation (and later analyze, classify, batch) over whole CT volumes; evaluation."""
