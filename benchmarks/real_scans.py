"""The real CTs in ../shared/data that the benchmarks run on (read in place, never copied)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: name -> (path, what it is). The head-and-neck series shows C1-C5; the chest CT holds the lowest
#: cervical levels in its top slices; the VerSe CT (T10-L3) holds none.
REAL_SCANS = {
    "head-neck": (DATA / "ct-head-neck-dicom", "Slicer CTHeadAxial"),
    "chest": (DATA / "ctchest4-slicer" / "CTChest4.nrrd", "slicerio CTChest4"),
    "verse-T10-L3": (DATA / "verse-sub-verse012" / "sub-verse012_ct.nii.gz", "VerSe sub-verse012, T10-L3"),
}
