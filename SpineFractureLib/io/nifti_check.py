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


__all__ = ["check_nifti"]
