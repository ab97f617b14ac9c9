"""The VerSe layout (Sekuboyina et al. 2021; github.com/anjany/verse): writer and reader.

One subject per folder (BIDS-like names, VerSe README "Data")::

    <subject>/<subject>_ct.nii.gz                CT, int16 HU
    <subject>/<subject>_seg-vert_msk.nii.gz      vertebra mask on the CT grid
    <subject>/<subject>_seg-subreg_ctd.json      vertebra centroids

(the full release splits rawdata/ and derivatives/ and may add ``_dir-<orient>`` to the names;
the older MICCAI-challenge files are ``verse012.nii.gz``, ``verse012_seg.nii.gz``,
``verse012_ctd.json`` or ``verse500_CT-orient_iso-ctd.json``). Labels: 1..7 C1..C7, 8..19
T1..T12, 20..25 L1..L6, 26 sacrum, 27 coccyx, 28 T13 (``v_dict`` in ``utils/data_utilities.py``).

**Centroid JSON.** A list whose first entry is ``{"direction": [a, b, c]}``: nibabel axis codes
of the image, i.e. ``nibabel.orientations.aff2axcodes(affine)``, the letter an axis points to
(``calc_centroids`` writes ``[axc] + centroids``). Each further entry is ``{"label": L, "X": x,
"Y": y, "Z": z}``: the label's centre of mass (``scipy.ndimage.center_of_mass``) in **voxel
coordinates** of the array in that orientation, X/Y/Z = array axes 0/1/2 of ``nibabel``'s data
(= our i, j, k), rounded to 0.1 voxel. "The centroids are in the same orientation and spacing as
the image" (``utils/prepare_data.ipynb``); the real subject sub-verse012 has ``["L", "P", "S"]``
and the repository's sample sub-verse004 ``["P", "I", "R"]``, so there is no single orientation.
``load_centroids`` skips entries holding NaN, as we do. When the JSON's direction differs from
the image's, VerSe's ``reorient_centroids_to`` permutes the coordinates and flips with
``size - x``; we flip with ``size - 1 - x`` (voxel centres at whole indices).

A JSON without a direction entry is read as the MICCAI-challenge format: "Centroid coordinates
... in 1mm resolution with coordinate origin at 'X'= anterior, 'Y'= superior, and 'Z'= left
(ASL)" (VerSe'20 MICCAI wiki, osf.io/b2wxj): millimetres along axes pointing P, I, R from the
corner voxel. Not checked against a real file of that format.

Header conventions of the real sub-verse012 that the writer copies: both images int16 (the mask
too), units mm, CT with qform code 1 (scanner) and no sform, mask with sform code 2 (aligned)
and no qform.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import nibabel.orientations as nio
import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..io import load_ct
from ..io.image_files import read_mask_on_grid
from ..io.staging import staged_dir
from ..volume import LPS_TO_RAS, CTVolume
from .case import LEVELS, LabelledCase

log = logging.getLogger(__name__)

#: VerSe label -> vertebra name.
VERSE_LEVELS: dict[int, str] = {
    **{i + 1: f"C{i + 1}" for i in range(7)},
    **{i + 8: f"T{i + 1}" for i in range(12)},
    **{i + 20: f"L{i + 1}" for i in range(6)},
    26: "Sacrum", 27: "Cocc", 28: "T13",
}


@dataclass(frozen=True)
class VerseFiles:
    """Paths of one VerSe subject; ``centroids`` is None when no JSON was found."""

    ct: Path
    mask: Path
    centroids: Path | None


# ----------------------------------------------------------------------------------------- writing


def write_verse_case(case: LabelledCase, root: str | os.PathLike, subject: str, *,
                     axcodes: tuple[str, str, str] | None = None,
                     centroids_lps: dict[int, np.ndarray] | None = None) -> Path:
    """Write a case as a VerSe subject folder ``root/<subject>/`` (replaced if it exists).

    Args:
        case: the case; its labels are written as they are (1..7 = C1..C7, 8.. = T1..),
            its fracture mask is not written (VerSe has none).
        root: the dataset folder.
        subject: subject name, e.g. ``sub-verse900``; the files are named after it.
        axcodes: reorient the images to these nibabel axis codes first (e.g. ``("P", "I", "R")``
            like VerSe's sample); None keeps the case's own grid.
        centroids_lps: ``{label: LPS mm}`` to write in the JSON, e.g. vertebral-body centres
            (VerSe's centroids come from its subregion masks: in sub-verse012 they sit inside
            the body, 11-15 mm anterior of the whole label's centre of mass). None writes the
            centre of mass of each whole label.

    Returns:
        The subject folder.
    """
    if not subject or any(c in subject for c in "/\\"):
        raise ValueError(f"subject must be a plain folder name, got {subject!r}")
    ct_data, affine = _to_nibabel(case.ct.array, case.ct, axcodes)
    mask_data, _ = _to_nibabel(case.labels.array, case.ct, axcodes)
    hu = np.clip(np.rint(ct_data), np.iinfo(np.int16).min, np.iinfo(np.int16).max).astype(np.int16)
    if mask_data.size and (mask_data.min() < 0 or mask_data.max() > max(VERSE_LEVELS)):
        raise ValueError(f"{case.case_id}: labels outside 0..{max(VERSE_LEVELS)}")
    target = Path(root) / subject
    with staged_dir(target) as tmp:
        ct_img = nib.Nifti1Image(hu, affine)
        ct_img.set_qform(affine, code=1)
        ct_img.set_sform(None, code=0)
        ct_img.header.set_xyzt_units("mm")
        nib.save(ct_img, tmp / f"{subject}_ct.nii.gz")
        msk_img = nib.Nifti1Image(mask_data.astype(np.int16), affine)
        msk_img.set_sform(affine, code=2)
        msk_img.set_qform(None, code=0)
        msk_img.header.set_xyzt_units("mm")
        nib.save(msk_img, tmp / f"{subject}_seg-vert_msk.nii.gz")
        if centroids_lps is None:
            centres = voxel_centroids(mask_data)
        else:  # LPS -> voxel coordinates of the written (possibly reoriented) array
            to_voxel = np.linalg.inv(affine) @ LPS_TO_RAS  # affine is RAS
            centres = {}
            for lab, lps in sorted(centroids_lps.items()):
                voxel = to_voxel @ np.append(np.asarray(lps, dtype=float), 1.0)
                centres[int(lab)] = [round(float(v), 1) for v in voxel[:3]]
        entries: list[dict[str, Any]] = [{"direction": list(nio.aff2axcodes(affine))}]
        for label, xyz in centres.items():
            entries.append({"label": label, "X": xyz[0], "Y": xyz[1], "Z": xyz[2]})
        (tmp / f"{subject}_seg-subreg_ctd.json").write_text(json.dumps(entries))
    log.info("wrote VerSe subject %s", target)
    return target


def voxel_centroids(mask: np.ndarray, decimals: int = 1) -> dict[int, list[float]]:
    """Centre of mass of every nonzero label, in voxel coordinates of ``mask``'s own axes.

    Args:
        mask: integer label array, any axis order (VerSe: nibabel order (i, j, k)).
        decimals: rounding, 1 as VerSe's ``calc_centroids``.

    Returns:
        ``{label: [c0, c1, c2]}`` in ascending label order.
    """
    labels = [int(v) for v in np.unique(mask) if v != 0]
    centres = ndimage.center_of_mass(np.ones(mask.shape), mask, labels) if labels else []
    return {lab: [round(float(c), decimals) for c in centre] for lab, centre in zip(labels, centres)}


def _to_nibabel(array_zyx: np.ndarray, grid: CTVolume,
                axcodes: tuple[str, str, str] | None) -> tuple[np.ndarray, np.ndarray]:
    """A (z, y, x) array as nibabel data (i, j, k) with its RAS affine, optionally reoriented."""
    data = np.asarray(array_zyx).transpose(2, 1, 0)
    affine = LPS_TO_RAS @ grid.ijk_to_lps()
    if axcodes is not None:
        transform = nio.ornt_transform(nio.io_orientation(affine), nio.axcodes2ornt(tuple(axcodes)))
        affine = affine @ nio.inv_ornt_aff(transform, data.shape)
        data = nio.apply_orientation(data, transform)
    return np.ascontiguousarray(data), affine


# ----------------------------------------------------------------------------------------- reading


def find_verse_files(path: str | os.PathLike) -> VerseFiles:
    """Locate CT, mask and centroid JSON of one subject by VerSe's naming.

    Args:
        path: the subject folder, or its CT file (``*_ct.nii.gz``, or VerSe'19 ``verse012.nii.gz``).
            The mask and JSON are looked for beside the CT, then in the ``derivatives`` folder
            that mirrors a ``rawdata`` one.

    Raises:
        InputError: no CT, or no mask, naming what was looked for.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    ct = path if path.is_file() else _find_ct(path)
    name = ct.name
    if name.endswith("_ct.nii.gz"):
        stem = name[: -len("_ct.nii.gz")]
        mask_names = [f"{stem}_seg-vert_msk.nii.gz"]
        ctd_names = [f"{stem}_seg-subreg_ctd.json"]
    elif name.endswith(".nii.gz"):  # MICCAI-challenge naming
        stem = name[: -len(".nii.gz")]
        mask_names = [f"{stem}_seg.nii.gz"]
        ctd_names = [f"{stem}_ctd.json", f"{stem}_iso-ctd.json"]
    else:
        raise InputError(ct, "not a VerSe CT file name (*_ct.nii.gz or verseNNN.nii.gz)")
    folders = [ct.parent]
    parts = ct.parent.parts
    if "rawdata" in parts:
        i = len(parts) - 1 - parts[::-1].index("rawdata")
        folders.append(Path(*parts[:i], "derivatives", *parts[i + 1:]))
    mask = _first_existing(folders, mask_names)
    if mask is None:
        raise InputError(ct.parent / mask_names[0], "vertebra mask missing")
    return VerseFiles(ct=ct, mask=mask, centroids=_first_existing(folders, ctd_names))


def _find_ct(folder: Path) -> Path:
    cts = sorted(folder.glob("*_ct.nii.gz"))
    if not cts:
        cts = sorted(p for p in folder.glob("*.nii.gz") if not p.name.endswith("_seg.nii.gz")
                     and "_seg-" not in p.name)
    if len(cts) != 1:
        found = "no" if not cts else f"{len(cts)}"
        raise InputError(folder, f"{found} VerSe CT file(s) (*_ct.nii.gz) in the folder; expected one")
    return cts[0]


def _first_existing(folders: list[Path], names: list[str]) -> Path | None:
    for folder in folders:
        for n in names:
            if (folder / n).is_file():
                return folder / n
    return None


def read_verse_case(path: str | os.PathLike) -> LabelledCase:
    """Read one VerSe subject.

    Args:
        path: the subject folder or its CT file (see :func:`find_verse_files`).

    Returns:
        The case, ``case_id`` the subject name: ``ct`` in HU and ``labels`` (VerSe values kept,
        uint8) on the file's own grid (array (z, y, x), LPS); ``fracture`` None; truth ``levels``
        {"C1".."C7": {"present"}} (no ``fractured``: VerSe has no fracture labels here) and, when
        the JSON exists, ``centroids_lps_mm`` {vertebra name: [x, y, z]}.

    Raises:
        InputError: naming the file: a missing or unreadable CT or mask, a mask on another grid
            or with values that are not VerSe labels, a malformed centroid JSON.
    """
    files = find_verse_files(path)
    ct = load_ct(files.ct)
    mask = read_mask_on_grid(files.mask, ct)
    values = np.unique(mask.array)
    unknown = [int(v) for v in values if v != 0 and int(v) not in VERSE_LEVELS]
    if unknown or not np.array_equal(values, np.round(values)):
        raise InputError(files.mask, f"values that are not VerSe labels: {unknown[:5] or 'fractions'}")
    labels = mask
    present = {int(v) for v in values}
    levels = {name: {"present": n + 1 in present} for n, name in enumerate(LEVELS)}
    truth: dict[str, Any] = {"levels": levels}
    if files.centroids is None:
        log.warning("%s: no centroid JSON beside the CT", files.ct)
    else:
        centroids = read_verse_centroids(files.centroids, ct)
        truth["centroids_lps_mm"] = {VERSE_LEVELS[lab]: [round(float(v), 3) for v in lps]
                                     for lab, lps in sorted(centroids.items())}
    subject = files.ct.name.split("_")[0].removesuffix(".nii.gz")
    return LabelledCase(case_id=subject, ct=ct, labels=labels, fracture=None, truth=truth)


def read_verse_centroids(json_path: str | os.PathLike, reference: CTVolume) -> dict[int, np.ndarray]:
    """Centroids of a VerSe JSON in LPS millimetres.

    Args:
        json_path: ``*_seg-subreg_ctd.json`` (or a MICCAI-challenge ``*_ctd.json``).
        reference: the subject's CT as loaded (its grid is the voxel space of the JSON).

    Returns:
        ``{label: array([x, y, z])}`` LPS mm, in file order; NaN entries skipped (as VerSe does).

    Raises:
        InputError: unreadable JSON, an entry without label/X/Y/Z, a label VerSe does not use.
    """
    json_path = Path(json_path)
    try:
        entries = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(json_path, f"not a readable JSON file ({exc.__class__.__name__})") from exc
    if not isinstance(entries, list):
        raise InputError(json_path, "expected a JSON list of centroid entries")
    direction = None
    points: dict[int, list[float]] = {}
    for n, e in enumerate(entries):
        if isinstance(e, dict) and "direction" in e:
            direction = _axcodes(e["direction"], json_path)
            continue
        try:
            label = int(e["label"])
            xyz = [float(e[k]) for k in ("X", "Y", "Z")]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(json_path, f"entry {n} is not {{label, X, Y, Z}}") from exc
        if any(math.isnan(v) for v in xyz):
            continue
        if label not in VERSE_LEVELS:
            raise InputError(json_path, f"entry {n}: label {label} is not a VerSe vertebra label")
        points[label] = xyz
    ref_affine = LPS_TO_RAS @ reference.ijk_to_lps()
    if direction is None:  # MICCAI format: mm from the anterior-superior-left corner, axes P, I, R
        direction = ("P", "I", "R")
        zooms = _zooms_in(direction, reference)
        points = {lab: [v / z for v, z in zip(xyz, zooms)] for lab, xyz in points.items()}
    ijk_of = _axis_map(direction, ref_affine, reference.shape_xyz)
    return {lab: reference.index_to_lps(ijk_of(np.array(xyz))) for lab, xyz in points.items()}


def _axcodes(value: Any, json_path: Path) -> tuple[str, str, str]:
    """Validated nibabel axis codes of a JSON direction entry."""
    codes = tuple(str(c).upper() for c in value) if isinstance(value, (list, tuple)) else ()
    try:
        ornt = nio.axcodes2ornt(codes) if len(codes) == 3 else None
    except ValueError:
        ornt = None
    if ornt is None or np.isnan(ornt).any() or sorted(ornt[:, 0].tolist()) != [0, 1, 2]:
        raise InputError(json_path, f"direction {value!r} is not three axis codes like "
                                    '["L", "P", "S"]')
    return codes  # type: ignore[return-value]


def _axis_map(direction: tuple[str, ...], ref_affine: np.ndarray, shape_xyz: tuple[int, int, int]):
    """Function mapping voxel coordinates in ``direction`` axes to the reference's (i, j, k)."""
    src = nio.axcodes2ornt(direction)
    dst = nio.io_orientation(ref_affine)
    perm, flip = [0, 0, 0], [False, False, False]
    for p in range(3):
        (q,) = np.flatnonzero(dst[:, 0] == src[p, 0])  # the reference axis along the same world axis
        perm[p], flip[p] = int(q), bool(dst[q, 1] != src[p, 1])

    def ijk_of(xyz: np.ndarray) -> np.ndarray:
        out = np.zeros(3)
        for p in range(3):
            q = perm[p]
            out[q] = shape_xyz[q] - 1 - xyz[p] if flip[p] else xyz[p]
        return out

    return ijk_of


def _zooms_in(direction: tuple[str, ...], reference: CTVolume) -> list[float]:
    """Voxel size (mm) along each axis of ``direction``, the reference reoriented to it."""
    dst = nio.io_orientation(LPS_TO_RAS @ reference.ijk_to_lps())
    src = nio.axcodes2ornt(direction)
    return [reference.spacing[int(np.flatnonzero(dst[:, 0] == src[p, 0])[0])] for p in range(3)]


__all__ = [
    "VERSE_LEVELS", "VerseFiles", "find_verse_files", "read_verse_case", "read_verse_centroids",
    "voxel_centroids", "write_verse_case",
]
