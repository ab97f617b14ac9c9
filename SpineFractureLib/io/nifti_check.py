"""Integrity checks for NIfTI files that ITK's reader does not make.

ITK reads a truncated NIfTI (plain or gzipped) without error, filling the missing voxels with
zeros, and turns NaN into 0 on read. A CT loaded that way would look valid. nibabel reads the
header; the data size is checked against the file (the gzip trailer gives the uncompressed size
cheaply) and floating-point data are scanned for NaN.
"""

from __future__ import annotations

import os
import struct
import zlib

import nibabel as nib
import numpy as np

from ..errors import InputError

_CHUNK = 1 << 22


#: Largest |cosine| between two grid axes still taken as orthogonal (about 0.06 degrees off).
ORTHOGONAL_TOLERANCE = 1e-3


def check_nifti_header(path: str | os.PathLike) -> None:
    """Refuse a NIfTI header that cannot describe a CT grid, before ITK reads it (ITK would take a
    zero spacing as 1 mm, printing a warning, and refuse sheared axes as "corrupt").

    Raises:
        InputError: unreadable header, a voxel size of zero (or negative, or not a number), or
            grid axes that are not orthogonal.
    """
    path = os.fspath(path)
    try:
        # The header as stored: nibabel's load "fixes" a zero pixdim to 1 (and logs it).
        with nib.openers.ImageOpener(path) as f:
            first = f.read(4)
            f.seek(0)
            sizes = {int.from_bytes(first, "little"), int.from_bytes(first, "big")}
            if not sizes & {348, 540}:  # sizeof_hdr of NIfTI-1 and NIfTI-2
                raise ValueError("no NIfTI header")
            raw = (nib.Nifti2Header if 540 in sizes else nib.Nifti1Header).from_fileobj(f, check=False)
    except Exception as exc:  # nibabel raises several types for a bad header
        raise InputError(path, "not a readable image file (corrupt, or not the format its name says)") from exc
    zooms = np.asarray(raw["pixdim"][1:4], float)
    if not np.all(np.isfinite(zooms)) or np.any(zooms <= 0):
        raise InputError(path, f"the header gives a voxel size of {tuple(round(float(z), 4) for z in zooms)} mm "
                               "(pixdim): every spacing must be positive")
    axes = np.asarray(raw.get_best_affine(), float)[:3, :3]
    norms = np.linalg.norm(axes, axis=0)
    if np.any(norms <= 0):
        raise InputError(path, "the header's orientation matrix has an axis of length zero")
    unit = axes / norms
    cosines = np.abs(unit.T @ unit - np.eye(3))
    if cosines.max() > ORTHOGONAL_TOLERANCE:
        i, j = np.unravel_index(int(np.argmax(cosines)), cosines.shape)
        angle = float(np.degrees(np.arccos(np.clip(unit[:, i] @ unit[:, j], -1, 1))))
        raise InputError(path, f"the grid axes are not orthogonal (axes {'ijk'[i]} and {'ijk'[j]} meet at "
                               f"{angle:.1f} degrees in the header's sform): a sheared grid is not a CT volume")


def check_nifti(path: str | os.PathLike) -> None:
    """Raise InputError when a NIfTI file is truncated or holds NaN/infinite values.

    Args:
        path: a .nii or .nii.gz file whose header ITK has already accepted.
    """
    path = os.fspath(path)
    try:
        image = nib.load(path)
    except Exception as exc:  # nibabel raises several types for a bad header
        raise InputError(path, f"not a readable NIfTI file ({exc.__class__.__name__})") from exc
    header = image.header
    dtype = header.get_data_dtype()
    n_bytes = int(np.prod(header.get_data_shape(), dtype=np.int64)) * dtype.itemsize
    expected = int(header.get_data_offset()) + n_bytes
    gz = path.lower().endswith(".gz")
    if not gz and os.path.getsize(path) < expected:
        raise InputError(path, f"truncated: the header announces {expected} bytes, the file has "
                               f"{os.path.getsize(path)}")
    if gz and _gzip_trailer_size(path) != expected % (1 << 32):
        actual = _decompressed_size(path)
        if actual < expected:
            raise InputError(path, f"truncated: the header announces {expected} bytes, the "
                                   f"compressed data hold {actual}")
    if dtype.kind == "f":
        data = np.asanyarray(image.dataobj)
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            raise InputError(path, f"contains {bad} NaN or infinite voxel value(s)")


def _gzip_trailer_size(path: str) -> int:
    """ISIZE from the gzip trailer: the uncompressed size modulo 2**32 (if the file is whole)."""
    with open(path, "rb") as f:
        f.seek(-4, os.SEEK_END)
        return struct.unpack("<I", f.read(4))[0]


def _decompressed_size(path: str) -> int:
    """Bytes that decompress from a (possibly truncated) gzip file before it ends."""
    total = 0
    decomp = zlib.decompressobj(zlib.MAX_WBITS | 16)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                total += len(decomp.decompress(chunk))
            except zlib.error:
                break
            if decomp.eof:  # a multi-member gzip: go on with the next member
                rest = decomp.unused_data
                decomp = zlib.decompressobj(zlib.MAX_WBITS | 16)
                if rest:
                    total += len(decomp.decompress(rest))
    return total


__all__ = ["ORTHOGONAL_TOLERANCE", "check_nifti", "check_nifti_header"]
