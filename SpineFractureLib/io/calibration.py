"""Sanity check of CT calibration: are the voxel values Hounsfield units?

Some files carry a wrong rescale (e.g. RescaleIntercept 0 where -1024 was meant: air then sits
near 0 and soft tissue near 1024, as in the real head-and-neck series in ../shared/data). The
models expect HU, so such a volume must be detected and, on request, shifted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import HU_AIR

#: Values at or below this are scanner padding outside the reconstruction circle, not tissue.
PADDING_BELOW_HU = -1500.0
#: Offset suggested for the common "intercept 0 instead of -1024" mistake.
STANDARD_OFFSET = HU_AIR


@dataclass(frozen=True)
class CalibrationCheck:
    """Result of :func:`check_hu_calibration`.

    Attributes:
        plausible: the values look like HU.
        soft_tissue_peak: histogram mode of soft-tissue-like values (HU as stored).
        negative_fraction: fraction of non-padding voxels below -200 (air, lung, fat edges).
        suggested_offset: HU to add to every voxel to calibrate, None when plausible.
        message: one human sentence describing the finding.
    """

    plausible: bool
    soft_tissue_peak: float
    negative_fraction: float
    suggested_offset: float | None
    message: str


def check_hu_calibration(array: np.ndarray, max_samples: int = 2_000_000) -> CalibrationCheck:
    """Decide from the histogram whether ``array`` holds Hounsfield units.

    Real CT in HU contains air (about -1000 HU) outside the body or in the airway, so a good
    fraction of voxels lies below -200. A volume whose values never go below about -200 and
    whose main soft-tissue peak sits near +1024 is stored without the -1024 intercept.

    Args:
        array: CT values, any shape (conventionally (z, y, x)).
        max_samples: voxels sampled (deterministically, strided) to keep this fast.

    Returns:
        The finding, with the offset to add when the values are not HU.
    """
    flat = np.asarray(array).reshape(-1)
    if flat.size > max_samples:
        flat = flat[:: flat.size // max_samples + 1]
    flat = flat[np.isfinite(flat)].astype(np.float32)
    tissue = flat[flat > PADDING_BELOW_HU]
    if tissue.size == 0:
        return CalibrationCheck(False, float("nan"), 0.0, None,
                                "no voxel above -1500: the volume holds only padding")
    negative_fraction = float(np.mean(tissue < -200.0))
    # Coarse histogram of soft-tissue-like values. Stored without the intercept, air sits near 0
    # and soft tissue makes a second clear peak near 1024; in HU, that range is sparse bone.
    hist, edges = np.histogram(tissue, bins=80, range=(-200.0, 1400.0))
    centres = (edges[:-1] + edges[1:]) / 2.0
    shifted = (centres >= 850.0) & (centres <= 1250.0)
    k_shifted = int(np.argmax(np.where(shifted, hist, -1)))
    k_all = int(np.argmax(hist))
    shifted_peak_strong = hist[k_shifted] >= 0.25 * max(int(hist[k_all]), 1)

    if negative_fraction < 0.001 and shifted_peak_strong:
        soft_peak = float(centres[k_shifted])
        return CalibrationCheck(
            False, soft_peak, negative_fraction, STANDARD_OFFSET,
            f"values do not look like HU: nothing below -200 and soft tissue near {soft_peak:.0f} "
            f"instead of about 40; adding {STANDARD_OFFSET:.0f} would calibrate them",
        )
    plain = (centres >= -200.0) & (centres <= 400.0)
    soft_peak = float(centres[int(np.argmax(np.where(plain, hist, -1)))])
    return CalibrationCheck(True, soft_peak, negative_fraction, None, "values look like HU")
