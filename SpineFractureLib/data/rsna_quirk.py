"""How RSNA 2022 stores its segmentation NIfTI files relative to the DICOM slices.

**The segmentation quirk.** Kaggle's data page warns that "the NIFTI files consist of segmentation
in the sagittal plane, while the DICOM files are in the axial plane. Please use the NIFTI header
information [...] Otherwise, you run the risk of having the segmentations flipped in the Z axis
and mirrored in the X axis." Concretely, with ``raw = nibabel.load(path).get_fdata()`` (axes in
file order, first index fastest on disk):

* ``raw`` has shape ``(columns, rows, slices)``: axis 0 is the DICOM column index ``i``
  (not flipped), axis 1 is the DICOM row index ``j`` **reversed**, axis 2 is the slice index in
  **position order**, inferior to superior (ascending along the slice normal), whatever the
  instance numbering.
* Therefore, for a label array ``A`` on the CT grid, (z, y, x), slices ordered by position,
  ``raw == A.transpose(2, 1, 0)[:, ::-1, :]`` and ``A == raw[:, ::-1, :].transpose(2, 1, 0)``.
* The community idiom ``seg[:, ::-1, ::-1].transpose(2, 1, 0)`` ("align orientation with train
  image") is that same operation followed by a reversal of the slices, giving the slices in
  instance-number order for the usual head-first numbering; the 3rd-place code uses
  ``seg[:, ::-1].transpose(2, 1, 0)`` instead when the instance numbers run upwards
  (darraghdog/RSNA22 ``scripts/_make_seg_labels_part1.py`` and ``_make_bbox_part1.py``).

The axis order and flips above are established by that code. The header is not shown in any
source found; following Kaggle's advice to "use the header", we write a geometrically correct
affine: raw voxel ``(a, b, c)`` lies at the LPS position of CT voxel ``(i, j, k) = (a, rows-1-b,
c)``, stored as RAS in both qform and sform (code 1, scanner). For a standard axial series this
is an "LAS" image (nibabel axis codes), the orientation dcm2niix produces from axial DICOM (it
flips the rows by default), which is consistent with the flips. The data type (uint8) is a guess.
The reader undoes the quirk by the array operation and only warns when the header disagrees, so
it does not depend on that guess.
"""

from __future__ import annotations

import numpy as np

from ..volume import LPS_TO_RAS, CTVolume


def labels_to_rsna_array(labels: np.ndarray) -> np.ndarray:
    """Store a (z, y, x) label array, slices in position order, the way RSNA's .nii files hold it.

    Returns:
        The array in NIfTI file order ``(columns, rows reversed, slices)`` (see the module doc).
    """
    return np.ascontiguousarray(np.asarray(labels).transpose(2, 1, 0)[:, ::-1, :])


def rsna_array_to_labels(raw: np.ndarray) -> np.ndarray:
    """Undo the RSNA storage: NIfTI file-order array -> (z, y, x), slices in position order."""
    return np.ascontiguousarray(np.asarray(raw)[:, ::-1, :].transpose(2, 1, 0))


def rsna_nifti_affine(ct: CTVolume) -> np.ndarray:
    """The RAS 4×4 affine of an RSNA-stored segmentation of ``ct`` (raw index -> RAS mm).

    Args:
        ct: the CT, slices ordered along the slice normal (as load_ct returns a DICOM series).
    """
    rows = ct.array.shape[1]
    unflip = np.eye(4)  # raw (a, b, c) -> CT (i, j, k) = (a, rows - 1 - b, c)
    unflip[1, 1], unflip[1, 3] = -1.0, rows - 1.0
    return LPS_TO_RAS @ ct.ijk_to_lps() @ unflip
