"""Find labelled cases in a folder of any supported layout: case folders, RSNA 2022 or VerSe."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from .case import LabelledCase


def list_labelled_cases(root: str | os.PathLike) -> list[tuple[str, Callable[[], LabelledCase]]]:
    """List the cases under ``root`` with a loader for each (loaded lazily).

    Layouts: RSNA 2022 (``train.csv`` at the top), case folders (``truth.json`` or
    ``labels.nii.gz`` per sub-folder, see :mod:`.case_io`), VerSe (``sub-*`` folders or ``rawdata``).

    Args:
        root: the dataset folder.

    Returns:
        (case id, loader) pairs, sorted by id.

    Raises:
        InputError: no folder, or no labelled case in it.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "is not a folder")
    if (root / "train.csv").is_file():
        from .rsna import RSNADataset

        ds = RSNADataset(root)
        return [(ds.study_uids[i], (lambda i=i: ds[i])) for i in range(len(ds))]
    found: list[tuple[str, Callable[[], LabelledCase]]] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if (sub / "labels.nii.gz").is_file():
            from .case_io import read_case

            found.append((sub.name, lambda sub=sub: read_case(sub)))
    if not found:
        subjects = sorted({p.name for p in root.rglob("sub-*") if p.is_dir()})
        if subjects:
            from .verse import read_verse_case

            found = [(s, lambda s=s: read_verse_case(_verse_subject(root, s))) for s in subjects]
    if not found:
        raise InputError(root, "holds no labelled cases (case folders, RSNA 2022 or VerSe layout)")
    return found


def list_classification_cases(root: str | os.PathLike) -> list[tuple[str, Callable[[], LabelledCase]]]:
    """Cases for the fracture classifier: every RSNA study (masked or not), or labelled case folders.

    RSNA studies without a segmentation come with an empty mask and ``truth["has_mask"] = False``
    (see :func:`.rsna.classification_case`); the other layouts are those of :func:`list_labelled_cases`.

    Raises:
        InputError: no folder, no labelled case, or a train.csv naming studies whose image folder
            is absent (checked before anything is prepared).
    """
    root = Path(root)
    if (root / "train.csv").is_file():
        from .rsna import RSNADataset, classification_case, missing_studies

        ds = RSNADataset(root, segmented_only=False)
        absent = missing_studies(ds)
        if absent:
            shown = ", ".join(absent[:3]) + (f" and {len(absent) - 3} more" if len(absent) > 3 else "")
            raise InputError(root / "train.csv", f"names {len(absent)} studies absent from train_images/: {shown}")
        if not ds.study_uids:
            raise InputError(root / "train.csv", "lists no study")
        return [(uid, (lambda uid=uid: classification_case(ds, uid))) for uid in ds.study_uids]
    return list_labelled_cases(root)


def _verse_subject(root: Path, subject: str) -> Path:
    # The raw-data folder of the subject; find_verse_files looks for its derivatives beside it.
    dirs = sorted((p for p in root.rglob(subject) if p.is_dir()), key=lambda p: "derivatives" in p.parts)
    return dirs[0]


__all__ = ["list_classification_cases", "list_labelled_cases"]
