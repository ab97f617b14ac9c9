"""Write an :class:`~.analyze.Analysis` into its output folder (DESIGN §4).

The folder is built under a temporary name beside the target and renamed into place when every
file is written: a crash leaves no half folder, and ``--overwrite`` replaces an old one only once
the new one is complete. An existing folder that is not empty is refused without ``overwrite``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..io.staging import staged_dir
from .analyze import Analysis
from .result_files import write_result_files


def check_out_dir(out: str | os.PathLike, overwrite: bool) -> None:
    """Refuse an output folder that exists and is not empty, unless ``overwrite``.

    Raises:
        InputError: the folder holds files, or the path is a file.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(out, "exists and is not empty (pass --overwrite to replace it)")


def write_outputs(analysis: Analysis, out: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """Write every output of one analysis into ``out``; returns the files written (final paths).

    Raises:
        InputError: ``out`` exists and is not empty and ``overwrite`` is False.
    """
    check_out_dir(out, overwrite)
    out = Path(out)
    names = []
    with staged_dir(out) as tmp:
        write_result_files(tmp, analysis.ct, analysis.labels.array, analysis.heatmap, analysis.findings)
        names = sorted(p.name for p in tmp.iterdir())
    return [out / n for n in names]


__all__ = ["check_out_dir", "write_outputs"]
