"""A plain description of a volume, for `spinefracture info` and the Slicer module."""

from __future__ import annotations

from typing import Any

import numpy as np

from .preprocess.geometry import orientation_code
from .volume import CTVolume


def describe_ct(volume: CTVolume) -> dict[str, Any]:
    """Size, spacing, orientation and value range of a volume (no patient identifiers).

    Args:
        volume: the CT; array axis order (z, y, x).

    Returns:
        JSON-ready dict: ``size`` [x, y, z] voxels, ``spacing_mm`` [x, y, z], ``extent_mm``
        [x, y, z], ``orientation`` (e.g. "LPS": where index axes i, j, k point),
        ``direction`` (3×3, columns = axes in LPS), ``origin_lps_mm``, ``hu_range`` [min, max],
        ``modality``, ``series_description``, ``slices`` (files read, DICOM only), ``warnings``.
    """
    arr = volume.array
    return {
        "size": list(volume.shape_xyz),
        "spacing_mm": [round(s, 4) for s in volume.spacing],
        "extent_mm": [round(n * s, 2) for n, s in zip(volume.shape_xyz, volume.spacing)],
        "orientation": orientation_code(volume),
        "direction": np.round(volume.direction, 6).tolist(),
        "origin_lps_mm": [round(o, 3) for o in volume.origin],
        "hu_range": [float(np.min(arr)), float(np.max(arr))],
        "modality": volume.modality,
        "series_description": volume.series_description,
        "slices": len(volume.source_files),
        "warnings": list(volume.warnings),
    }


def format_description(info: dict[str, Any]) -> str:
    """Human-readable lines for a :func:`describe_ct` dict."""
    xyz = lambda v, fmt="{:g}": " × ".join(fmt.format(x) for x in v)  # noqa: E731
    lines = [
        f"modality     {info['modality']}"
        + (f"  ({info['series_description']})" if info["series_description"] else ""),
        f"size         {xyz(info['size'])} voxels (x, y, z)",
        f"spacing      {xyz(info['spacing_mm'])} mm",
        f"extent       {xyz(info['extent_mm'])} mm",
        f"orientation  {info['orientation']}",
        f"HU range     {info['hu_range'][0]:g} to {info['hu_range'][1]:g}",
    ]
    if info.get("slices"):
        lines.append(f"slices       {info['slices']} DICOM files")
    lines += [f"warning      {w}" for w in info["warnings"]]
    return "\n".join(lines)
