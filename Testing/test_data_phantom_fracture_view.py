"""A fracture the scan would not show is not drawn: truth and image agree at a scan's edge."""

import numpy as np

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom, planned_fractures
from SpineFractureLib.data.phantom.builders import plain_shape
from SpineFractureLib.data.phantom.fractures import Rendered
from SpineFractureLib.data.phantom.fracture_view import share_in_view
from SpineFractureLib.data.phantom.render import BoneObject
from SpineFractureLib.volume import CTVolume


def test_a_dens_fracture_above_the_scan_is_left_out_and_listed():
    # Seed 1845018: a neck scan whose top slice cuts C2's body; the random stream breaks C2 (a
    # dens fracture, above the scan), C3 and C4. Before session 47 C2 was labelled fractured
    # while its image was the intact scan's, voxel for voxel.
    config = dict(streak_probability=0.0)
    case = make_phantom(1845018, PhantomConfig(fracture_rate=1.0, **config))
    intact = make_phantom(1845018, PhantomConfig(fracture_rate=0.0, **config))
    levels = case.truth["levels"]
    assert case.truth["fractures_out_of_view"] == ["C2"]
    assert levels["C2"]["present"] and not levels["C2"]["fractured"] and levels["C2"]["kind"] is None
    assert [lv for lv in LEVELS if levels[lv]["fractured"]] == ["C3", "C4"] and case.truth["patient_fractured"]
    c2 = case.labels.array == LEVELS.index("C2") + 1
    assert c2.any() and not case.fracture.array[c2].any()
    np.testing.assert_array_equal(case.ct.array[c2], intact.ct.array[c2])
    c3 = case.labels.array == LEVELS.index("C3") + 1
    assert case.fracture.array[c3].any()  # the fractures in view are drawn as before
    assert intact.truth["fractures_out_of_view"] == []
    # The dry run leaves the out-of-view fracture out too.
    assert planned_fractures(1845018, PhantomConfig(fracture_rate=1.0, **config)) == {
        lv: levels[lv]["kind"] for lv in ("C3", "C4")}


def _slab_object(region_half_mm: float = 5.0) -> BoneObject:
    def evaluate(u, v, w):
        bone = plain_shape(np.maximum(np.abs(u), np.maximum(np.abs(v), np.abs(w))) - 8.0)
        return Rendered(bone.bone, bone.shell, bone.labelled, np.abs(w) <= region_half_mm, bone.impaction)
    return BoneObject("C4", 4, np.eye(3), np.zeros(3), np.full(3, -10.0), np.full(3, 10.0), evaluate)


def _grid(z_from_mm: float, slices: int) -> CTVolume:
    """A 1 mm grid over x, y in -20..20 mm and ``slices`` slices upwards from ``z_from_mm``."""
    return CTVolume(np.zeros((slices, 41, 41), np.float32), (1.0, 1.0, 1.0), (-20.0, -20.0, z_from_mm), np.eye(3),
                    modality="CT")


def test_share_in_view_is_the_share_of_the_fracture_region_inside_the_grid():
    obj, pose, shift = _slab_object(), np.eye(3), np.zeros(3)
    assert share_in_view(obj, pose, shift, _grid(-30.0, 61)) == 1.0
    upper = share_in_view(obj, pose, shift, _grid(0.0, 30))  # the region is w in -5..5 mm: 6 of 11 planes
    assert abs(upper - 6 / 11) < 1e-6
    assert share_in_view(obj, pose, shift, _grid(20.0, 10)) == 0.0
    moved = share_in_view(obj, pose, np.array([0.0, 0.0, 40.0]), _grid(20.0, 40))  # the scanner places it higher
    assert moved == 1.0
    assert share_in_view(_slab_object(region_half_mm=-1.0), pose, shift, _grid(-30.0, 61)) == 0.0
