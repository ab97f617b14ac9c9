"""Offscreen pictures of the module's scene (SpineFractureLogic.render): the slice view blends the
CT, the levels and the heat map as Slicer does, the 3D view shows the closed surfaces, and
rendering leaves the user's views as they were."""

from __future__ import annotations

import numpy as np
import pytest

from slicer_scene import node_count, scene_with_views

import SpineFractureLogic as logic  # noqa: E402
from SpineFractureLogic import render  # noqa: E402
from SpineFractureLib.terminology import LEVEL_COLOURS  # noqa: E402
from SpineFractureLib.volume import CTVolume  # noqa: E402

SHAPE = (40, 48, 44)  # (z, y, x), 1 mm


@pytest.fixture
def scene_and_nodes():
    scene = scene_with_views()
    ct = np.full(SHAPE, -100.0, np.float32)
    ct[:, 14:34, 12:32] = 400.0  # a bony column
    ct_node = logic.volume_node_from_ct(scene, CTVolume(ct, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)), "CT")
    labels = np.zeros(SHAPE, np.uint8)
    labels[24:36, 14:34, 12:32] = 3  # higher z is superior (LPS): C3 above C4
    labels[6:20, 14:34, 12:32] = 4
    segmentation = logic.segmentation_node_from_labels(scene, labels, ct_node)
    heat = np.zeros(SHAPE, np.float32)
    heat[8:18, 16:32, 14:30] = 1.0  # on C4
    grid = logic.ct_from_volume_node(ct_node)
    return scene, ct_node, segmentation, logic.heatmap_node(scene, grid, heat)


def _centre_views(scene):
    logic.jump_slice_views(scene, logic.lps_to_ras((22.0, 24.0, 20.0)))


def test_slice_view_blends_ct_levels_and_heat(scene_and_nodes):
    scene, ct_node, segmentation, heat = scene_and_nodes
    _centre_views(scene)
    plain = render.render_slice(scene, "Green", ct_node, size=128).astype(int)
    levels = render.render_slice(scene, "Green", ct_node, None, segmentation, size=128).astype(int)
    full = render.render_slice(scene, "Green", ct_node, heat, segmentation, size=128).astype(int)
    assert plain.shape == full.shape == (128, 128, 3)
    assert plain.std() > 10  # the column shows
    changed = np.abs(full - plain).sum(axis=2) > 30
    assert 0.05 < changed.mean() < 0.6  # levels and heat drawn over part of the slice, not all of it
    # a coronal view has the head at the top: C3 (upper, yellowish) above C4 (lower, blue)
    rows = np.nonzero(changed.any(axis=1))[0]
    top = full[rows[0] + 3]
    c3, c4 = np.array(LEVEL_COLOURS[2]) * 255, np.array(LEVEL_COLOURS[3]) * 255
    top_px = top[changed[rows[0] + 3]].mean(0)
    assert np.linalg.norm(top_px - c3) < np.linalg.norm(top_px - c4)
    heated = np.abs(full - levels).sum(axis=2) > 30  # the heat map's pixels: over C4 only, the lower half
    heated_rows = np.nonzero(heated.any(axis=1))[0]
    assert heated.any() and heated_rows[0] > (rows[0] + rows[-1]) / 2


def test_rendering_leaves_views_and_scene_as_they_were(scene_and_nodes):
    scene, ct_node, segmentation, heat = scene_and_nodes
    _centre_views(scene)
    slice_node = render.slice_node_of_view(scene, "Yellow")
    render.render_slice(scene, "Yellow", ct_node, heat, segmentation, size=96)  # makes the level colours once
    before = ([slice_node.GetSliceToRAS().GetElement(r, c) for r in range(4) for c in range(4)],
              slice_node.GetFieldOfView(), node_count(scene))
    render.render_slice(scene, "Yellow", ct_node, heat, segmentation, size=96)
    after = ([slice_node.GetSliceToRAS().GetElement(r, c) for r in range(4) for c in range(4)],
             slice_node.GetFieldOfView(), node_count(scene))
    np.testing.assert_allclose(after[0], before[0])
    np.testing.assert_allclose(after[1], before[1])
    assert after[2] == before[2]
    with pytest.raises(ValueError, match="no slice view"):
        render.render_slice(scene, "Purple", ct_node)


def test_3d_view_shows_the_surfaces_and_png_round_trips(scene_and_nodes, tmp_path):
    scene, ct_node, segmentation, heat = scene_and_nodes
    picture = render.render_3d(segmentation, size=96)
    background = np.array([0.12, 0.12, 0.16]) * 255
    lit = np.abs(picture.astype(float) - background).sum(axis=2) > 30
    assert 0.02 < lit.mean() < 0.9
    path = render.save_png(tmp_path / "view.png", picture)
    import vtk
    from vtk.util import numpy_support

    reader = vtk.vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    back = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(96, 96, -1)[::-1, :, :3]
    np.testing.assert_array_equal(back, picture)
