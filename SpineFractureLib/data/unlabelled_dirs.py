"""Find plain CT volumes (no labels) in a folder, for self-supervised pretraining."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.dicom_read import is_dicom_file
from ..io.image_files import is_image_file
from ..io.loader import load_ct
from .case import LabelledCase
from .labelled_dirs import list_labelled_cases

log = logging.getLogger(__name__)
#: Non-image files probed to decide whether a folder holds DICOM (load_ct then reads them all).
_DICOM_PROBE = 3


def list_unlabelled_cts(root: str | os.PathLike) -> list[tuple[str, Callable[[], LabelledCase]]]:
    """List every CT under ``root``: image files and folders of DICOM files, searched recursively.

    A folder in a labelled layout (see :func:`~.labelled_dirs.list_labelled_cases`) gives its CTs,
    so that label files are never mistaken for CTs. Otherwise each loader returns a
    :class:`LabelledCase` whose label map is all background (MAE pretraining never reads the labels).
    A folder holding DICOM files is one CT: :func:`~SpineFractureLib.io.load_ct` takes the series
    with the most slices in it, as it does for ``analyze``.

    Args:
        root: the folder.

    Returns:
        (relative path, loader) pairs, sorted by path.

    Raises:
        InputError: ``root`` is not a folder or holds no CT.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "is not a folder")
    try:
        return list_labelled_cases(root)
    except InputError:
        pass  # not a labelled layout: plain CTs
    found = find_cts(root)
    log.info("%d unlabelled CT volumes under %s", len(found), root)
    return [(key, (lambda key=key, path=path: _read(key, path))) for key, path in found]


def find_cts(root: str | os.PathLike) -> list[tuple[str, Path]]:
    """Every CT under ``root``: image files, and folders holding DICOM files (one CT each).

    Returns:
        (path relative to ``root``, path) pairs, sorted by the relative path.

    Raises:
        InputError: ``root`` is not a folder or holds no CT.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "is not a folder")
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        here = Path(folder)
        paths = [here / f for f in sorted(files)]
        found += [(str(p.relative_to(root)), p) for p in paths if is_image_file(p)]
        others = [p for p in paths if not is_image_file(p)]
        if any(is_dicom_file(p) for p in others[:_DICOM_PROBE]):
            found.append((str(here.relative_to(root)), here))
    if not found:
        raise InputError(root, "holds no CT (image files .nii/.nii.gz/.nrrd/.mha/.mhd or DICOM folders)")
    return sorted(found)


def _read(key: str, path: Path) -> LabelledCase:
    ct = load_ct(path)
    return LabelledCase(key, ct, ct.with_array(np.zeros(ct.array.shape, np.uint8)))


__all__ = ["find_cts", "list_unlabelled_cts"]
