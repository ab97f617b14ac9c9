"""Measurements of the segmented vertebrae: volume, cancellous HU, body heights, Genant grade."""

from .levels import LevelMeasurement, levels_cut_by_scan, measure_levels

__all__ = ["LevelMeasurement", "levels_cut_by_scan", "measure_levels"]
