"""Facts every layer shares: level names and counts, and the HU range a CT is stored in.

The lowest layer of the library (beside :mod:`SpineFractureLib.volume`): it imports nothing.
"""

from __future__ import annotations

#: Level names by label value. 1..7 = C1..C7 as in RSNA and VerSe; 8.. = T1.. (RSNA numbering).
LEVELS: tuple[str, ...] = ("C1", "C2", "C3", "C4", "C5", "C6", "C7")
THORACIC: tuple[str, ...] = tuple(f"T{i}" for i in range(1, 13))
#: Lumbar levels; label values 20..25 = L1..L6 as in VerSe.
LUMBAR: tuple[str, ...] = tuple(f"L{i}" for i in range(1, 7))
#: Number of cervical levels.
N_LEVELS = len(LEVELS)
#: T1's label value (the vertebra below C7).
T1_LABEL = N_LEVELS + 1
#: Segmentation classes: background + C1..C7.
N_CLASSES = N_LEVELS + 1

#: Air in HU, and the value outside a scan's field of view.
HU_AIR = -1024.0
#: Highest HU of a 12-bit CT (the usual stored range is -1024..3071).
HU_MAX = 3071.0

__all__ = ["HU_AIR", "HU_MAX", "LEVELS", "LUMBAR", "N_CLASSES", "N_LEVELS", "THORACIC"]
