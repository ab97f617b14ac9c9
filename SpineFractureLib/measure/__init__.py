"""Measurements of the segmented vertebrae: volume, cancellous HU, body heights, Genant grade."""

from .levels import LevelMeasurement, measure_levels

__all__ = ["LevelMeasurement", "measure_levels"]
