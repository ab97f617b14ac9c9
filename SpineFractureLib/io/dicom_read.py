"""Reading a CT volume from a folder of DICOM slices, with the geometry checks CT needs.

pydicom rather than SimpleITK's ImageSeriesReader: we need to see every slice position to refuse
missing slices and duplicate positions, regularise uneven spacing, undo gantry-tilt shear, and say
which series was picked, none of which the series reader reports.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut
from scipy import ndimage

from ..errors import InputError
from ..volume import CTVolume

log = logging.getLogger(__name__)

#: Fewest slices accepted as a 3D CT volume.
MIN_SLICES = 3
#: A step between slices this many times the usual one means a slice is missing.
GAP_FACTOR = 1.5
#: Relative deviation of a slice step from the median above which spacing counts as uneven.
UNEVEN_TOLERANCE = 0.05
#: Gantry tilt (degrees) above which the slices are de-sheared onto an orthogonal grid.
TILT_TOLERANCE_DEG = 0.1


@dataclass
class _Slice:
    path: str
    ds: pydicom.Dataset

    @property
    def series_uid(self) -> str:
        return str(self.ds.get("SeriesInstanceUID", ""))

    @property
    def modality(self) -> str:
        return str(self.ds.get("Modality", "")).upper() or "unknown"


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when the file has the DICOM Part 10 preamble ("DICM" at byte 128)."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def scan_folder(folder: Path) -> list[_Slice]:
    """Headers of every DICOM file under ``folder`` (pixel data deferred, not read)."""
    slices = []
    for root, _dirs, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = os.path.join(root, name)
            if not is_dicom_file(path):
                continue
            try:
                ds = pydicom.dcmread(path, defer_size="2 KB")
            except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
                raise InputError(path, f"truncated or corrupt DICOM file ({exc.__class__.__name__})") from exc
            slices.append(_Slice(path, ds))
    return slices


def load_dicom_series(path: str | os.PathLike) -> CTVolume:
    """Load the CT series with the most slices from a folder (or the series of one file).

    Args:
        path: a folder searched recursively, or one DICOM file (its folder's series with the same
            SeriesInstanceUID is loaded).

    Returns:
        The volume in HU, array (z, y, x), slices ordered along the slice normal by
        ImagePositionPatient; ``source_files`` in that order; ``warnings`` filled.

    Raises:
        InputError: no DICOM, no CT series, too few slices, a missing slice, duplicate positions,
            inconsistent slices or a truncated file.
    """
    path = Path(path)
    folder = path.parent if path.is_file() else path
    slices = scan_folder(folder)
    if not slices:
        raise InputError(path, "no DICOM files found")
    if path.is_file():
        wanted = next((s.series_uid for s in slices if os.path.samefile(s.path, path)), None)
        slices = [s for s in slices if s.series_uid == wanted]

    series: dict[str, list[_Slice]] = defaultdict(list)
    for s in slices:
        series[s.series_uid].append(s)
    ct_series = {uid: ss for uid, ss in series.items() if ss[0].modality == "CT"}
    if not ct_series:
        largest = max(series.values(), key=len)
        raise InputError(path, f"no CT series: the largest series is {largest[0].modality} "
                               f"({len(largest)} files); only CT is supported")
    uid, chosen = max(ct_series.items(), key=lambda kv: len(kv[1]))
    warnings: list[str] = []
    description = str(chosen[0].ds.get("SeriesDescription") or "")
    if len(series) > 1:
        msg = (f"{len(series)} series found; picked the CT series with the most slices "
               f"('{description}', {len(chosen)} files)")
        log.info(msg)
        warnings.append(msg)
    chosen = _consistent_slices(path, chosen, warnings)
    return _build_volume(path, chosen, description, warnings)


def _consistent_slices(path: Path, slices: list[_Slice], warnings: list[str]) -> list[_Slice]:
    """Keep the largest group of slices sharing orientation and size (drops localizers)."""
    if len(slices) == 1 and int(slices[0].ds.get("NumberOfFrames", 1) or 1) > 1:
        raise InputError(slices[0].path, "multi-frame (enhanced) CT is not supported; export the "
                                         "series as single-slice CT images")
    groups: dict[tuple, list[_Slice]] = defaultdict(list)
    for s in slices:
        for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
            if tag not in s.ds:
                raise InputError(s.path, f"slice has no {tag}: cannot place it in space")
        groups[tuple(np.round(np.asarray(s.ds.ImageOrientationPatient, float), 4))].append(s)
    best = max(groups.values(), key=len)
    dropped = len(slices) - len(best)
    if dropped:  # localizers and other planes stored with the series
        msg = f"ignored {dropped} slice(s) with another orientation"
        log.info(msg)
        warnings.append(msg)
    # Within one orientation every slice must have one matrix and pixel size: a series that mixes
    # them is not one volume, and keeping the larger group would read a thinner, gappy series.
    sizes: dict[tuple, int] = defaultdict(int)
    for s in best:
        sizes[(int(s.ds.Rows), int(s.ds.Columns), tuple(np.round(np.asarray(s.ds.PixelSpacing, float), 4)))] += 1
    if len(sizes) > 1:
        described = ", ".join(f"{n} of {r}×{c} pixels of {sp[0]:g}×{sp[1]:g} mm" for (r, c, sp), n in
                              sorted(sizes.items(), key=lambda kv: -kv[1]))
        raise InputError(path, f"the series mixes slice sizes ({described}): it is not one CT volume")
    if len(best) < MIN_SLICES:
        raise InputError(path, f"the CT series has {len(best)} slice(s); a CT volume needs at least "
                               f"{MIN_SLICES}")
    return best


def _build_volume(path: Path, slices: list[_Slice], description: str,
                  warnings: list[str]) -> CTVolume:
    first = slices[0].ds
    iop = np.asarray(first.ImageOrientationPatient, dtype=float)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    positions = np.array([np.asarray(s.ds.ImagePositionPatient, float) for s in slices])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    slices = [slices[i] for i in order]
    positions, along = positions[order], along[order]

    steps = np.diff(along)
    if np.any(steps < 1e-3):
        k = int(np.argmin(steps))
        raise InputError(path, f"two slices at the same position ({along[k]:.2f} mm along the slice "
                               "normal): the series holds more than one volume")
    step = float(np.median(steps))
    gaps = np.nonzero(steps > GAP_FACTOR * step)[0]
    if gaps.size:
        k = int(gaps[0])
        raise InputError(path, f"missing slice: a gap of {steps[k]:.2f} mm between slices at "
                               f"{along[k]:.2f} and {along[k + 1]:.2f} mm where slices are "
                               f"{step:.2f} mm apart")

    sy, sx = (float(v) for v in first.PixelSpacing)  # PixelSpacing is (row step, column step)
    array = np.stack([_slice_hu(s) for s in slices]).astype(np.float32)

    if np.max(np.abs(steps - step)) > UNEVEN_TOLERANCE * step:
        msg = (f"uneven slice spacing ({steps.min():.2f} to {steps.max():.2f} mm); "
               f"resampled to {step:.2f} mm")
        log.info(msg)
        warnings.append(msg)
        array, positions, along = _regularise(array, positions, along, step)

    span = positions[-1] - positions[0]
    tilt_deg = float(np.degrees(np.arccos(np.clip(abs(span @ normal) / np.linalg.norm(span), 0, 1))))
    if tilt_deg > TILT_TOLERANCE_DEG:
        msg = f"gantry tilt of {tilt_deg:.1f} degrees; slices shifted onto an orthogonal grid"
        log.info(msg)
        warnings.append(msg)
        array = _deshear(array, positions, row_dir, col_dir, sx, sy)

    return CTVolume(
        array=array,
        spacing=(sx, sy, step),
        origin=tuple(positions[0]),
        direction=np.column_stack([row_dir, col_dir, normal]),
        modality="CT",
        series_description=description,
        source=str(path),
        warnings=warnings,
        source_files=[s.path for s in slices],
    )


def _slice_hu(s: _Slice) -> np.ndarray:
    """One slice in HU (RescaleSlope/Intercept applied), axis order (y, x)."""
    try:
        pixels = s.ds.pixel_array
    except Exception as exc:  # pydicom raises several types for short or undecodable data
        raise InputError(s.path, f"cannot decode pixel data (truncated file?): {exc}") from exc
    if pixels.ndim != 2:
        raise InputError(s.path, f"expected one 2D greyscale slice, pixel data has shape {pixels.shape}")
    return np.asarray(apply_modality_lut(pixels, s.ds), dtype=np.float32)


def _regularise(array: np.ndarray, positions: np.ndarray, along: np.ndarray,
                step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linearly interpolate slices onto an even grid of ``step`` mm along the normal."""
    n = int(np.floor((along[-1] - along[0]) / step + 1e-6)) + 1
    target = along[0] + step * np.arange(n)
    upper = np.clip(np.searchsorted(along, target, side="right"), 1, len(along) - 1)
    lower = upper - 1
    w = ((target - along[lower]) / (along[upper] - along[lower])).astype(np.float32)
    out = array[lower] * (1 - w)[:, None, None] + array[upper] * w[:, None, None]
    new_positions = positions[lower] + (positions[upper] - positions[lower]) * w[:, None]
    return out.astype(np.float32), new_positions, target


def _deshear(array: np.ndarray, positions: np.ndarray, row_dir: np.ndarray, col_dir: np.ndarray,
             sx: float, sy: float) -> np.ndarray:
    """Shift each tilted slice in-plane so all slices sit on the first slice's orthogonal column."""
    out = np.empty_like(array)
    for k in range(array.shape[0]):
        offset = positions[k] - positions[0]
        di, dj = offset @ row_dir / sx, offset @ col_dir / sy
        # out[j, i] = in[j - dj, i - di]: the slice's own voxel at that world position
        out[k] = ndimage.shift(array[k], (dj, di), order=1, mode="nearest")
    return out
