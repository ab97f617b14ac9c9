"""Which of the module's Python requirements are missing from the running interpreter.

Inside Slicer the widget asks before installing anything, installs torch through the PyTorch
extension first (so that pip does not pull whatever torch PyPI serves through monai), then only the
requirements this reports missing. Packages Slicer bundles (numpy, scipy, SimpleITK, pydicom, vtk;
highdicom from 5.12) are never listed in ``Resources/requirements.txt``, or, where an older Slicer
lacks them, reported missing only when they really are: nothing Slicer ships is ever reinstalled.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

#: Distributions Slicer bundles: never in requirements.txt.
SLICER_BUNDLED = ("numpy", "scipy", "simpleitk", "pydicom", "vtk")
#: Comes from the PyTorch extension (EXTENSION_DEPENDS), never from requirements.txt.
TORCH = "torch"


def read_requirements(path: str | os.PathLike) -> list[str]:
    """The requirement lines of a requirements file (comments and blank lines dropped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def missing_requirements(requirements: list[str]) -> list[str]:
    """The requirements not satisfied by the installed distributions (name and version range).

    Args:
        requirements: PEP 508 strings, e.g. ``"monai>=1.4"``.

    Returns:
        The subset to install, in the given order.
    """
    from packaging.requirements import Requirement

    missing = []
    for text in requirements:
        req = Requirement(text)
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(text)
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            missing.append(text)
    return missing


def torch_installed() -> bool:
    """True when a torch distribution is installed (checked without importing it)."""
    try:
        importlib.metadata.version(TORCH)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


__all__ = ["SLICER_BUNDLED", "TORCH", "missing_requirements", "read_requirements", "torch_installed"]
