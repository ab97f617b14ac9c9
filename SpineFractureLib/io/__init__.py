"""Reading and writing CT volumes: DICOM series, NIfTI, NRRD and MetaImage."""

from .loader import load_ct

__all__ = ["load_ct"]
