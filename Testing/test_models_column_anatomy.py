"""The localizer's anatomical rules on hand-made class maps (4 mm grids)."""

import numpy as np
import pytest

from conftest import localizer_grid as _grid
from SpineFractureLib.models.column_anatomy import (
    MAX_AIRWAY_BEHIND_MM,
    MAX_CERVICAL_GAP_MM,
    MIN_EDGE_THORACIC_RUN_MM,
    MIN_THORACIC_RUN_MM,
    airway_behind_mm,
    cervicothoracic_junction_mm,
    top_run,
)
from SpineFractureLib.models.localizer import localization_from_classes
from SpineFractureLib.volume import CTVolume


def test_the_cervical_spine_is_the_top_run_of_cervical_rows():
    """A chest CT: C6-C7 at the scan's top, stray "cervical" votes in the lumbar column far below."""
    classes = np.zeros((80, 30, 40), np.uint8)
    classes[0:72, 12:18, 15:21] = 2  # thoracic and lumbar column from the scan's lowest slice
    classes[72:80, 12:18, 15:21] = 1  # C6-C7, 32 mm at the top
    classes[10:14, 12:18, 15:21] = 1  # 16 mm of misread lumbar bodies, 230 mm lower
    grid = _grid(classes.shape)
    loc = localization_from_classes(classes, grid)
    assert loc.found and loc.cervical_ml == pytest.approx(8 * 36 * 0.064, abs=0.01)
    assert loc.box_lps[0][2] == pytest.approx(72 * 4 - 2) and loc.box_lps[1][2] == pytest.approx(79 * 4 + 2)
    assert not loc.cervical_mask().array[:72].any()
    # A gap up to MAX_CERVICAL_GAP_MM (a disc the network read as other vertebra) does not split the run.
    rows = np.zeros((10, 1, 1), bool)
    rows[[0, 4, 5, 8, 9]] = True  # rows 12 mm apart join, 16 mm apart do not
    assert 3 * 4.0 <= MAX_CERVICAL_GAP_MM < 4 * 4.0
    np.testing.assert_array_equal(np.nonzero(top_run(rows, 4.0)[:, 0, 0])[0], [4, 5, 8, 9])
    np.testing.assert_array_equal(np.nonzero(top_run(rows, 2.0)[:, 0, 0])[0], [0, 4, 5, 8, 9])


def test_cervical_looking_voxels_in_front_of_the_airway_are_no_cervical_spine():
    """Head CT 1700004: the mandible, in front of the pharynx, taken for the cervical spine."""
    classes = np.zeros((40, 40, 30), np.uint8)
    classes[0:20, 24:30, 12:18] = 1  # 80 mm of "cervical" voxels down to the scan's lowest slice
    hu = np.full(classes.shape, -1000.0, np.float32)
    hu[:, 4:36, 3:27] = 0.0  # the neck's soft tissue
    hu[:, 14:18, 13:17] = -1000.0  # the airway, 11 voxels (44 mm) in front of their centre
    grid = CTVolume(hu, (4.0, 4.0, 4.0), (0.0, 0.0, 0.0), np.eye(3))
    loc = localization_from_classes(classes, grid)
    assert loc.found and airway_behind_mm(loc.mask, grid) == pytest.approx(-44.0)
    # The same voxels with the airway behind them (a mandible): no cervical spine.
    classes = np.roll(classes, -20, axis=1)  # y 4-9, the airway at 14-17 behind
    assert airway_behind_mm(classes == 1, grid) == pytest.approx(36.0) and 36.0 > MAX_AIRWAY_BEHIND_MM
    assert not localization_from_classes(classes, grid).found
    # No inner air near the midline in those slices: no decision.
    assert airway_behind_mm(classes == 1, _grid(classes.shape)) is None


def test_the_junction_is_where_cervical_slices_give_way_to_a_thoracic_run():
    classes = np.zeros((60, 10, 10), np.uint8)
    classes[40:58, 4:6, 4:6] = 1  # cervical slices k 40..57 (z towards the head)
    classes[36:40, 4:6, 4:6] = 2  # 16 mm of other vertebra at the scan's lower edge: a cut C7 misread
    grid = _grid(classes.shape, body_from_k=36, origin=(0.0, 0.0, -100.0))
    assert 16.0 < MIN_THORACIC_RUN_MM and cervicothoracic_junction_mm(classes, grid) is None
    classes[30:36, 4:6, 4:6] = 2  # now 40 mm of thoracic column below: T1 and T2
    assert cervicothoracic_junction_mm(classes, grid) == pytest.approx(-100.0 + 4.0 * 39.5)
    classes[39, 4:6, 3:7] = 1  # the slice below the cervical ones now holds more cervical voxels
    assert cervicothoracic_junction_mm(classes, grid) == pytest.approx(-100.0 + 4.0 * 38.5)
    loc = localization_from_classes(classes, grid)
    assert loc.found and loc.junction_z_mm == pytest.approx(-100.0 + 4.0 * 38.5)
    classes[:39] = 0  # no thoracic spine in view
    assert localization_from_classes(classes, grid).junction_z_mm is None
    # Other-vertebra slices down to the scan's lower edge: 40 mm of them is a cut C6 misread
    # (neck phantoms 1240007, 1240013), not a thoracic spine; 64 mm is one.
    classes[29:39, 4:6, 4:6] = 2
    assert MIN_EDGE_THORACIC_RUN_MM > 40.0 and cervicothoracic_junction_mm(classes[29:], grid) is None
    classes[23:29, 4:6, 4:6] = 2
    assert cervicothoracic_junction_mm(classes[23:], grid) == pytest.approx(-100.0 + 4.0 * (38.5 - 23))
