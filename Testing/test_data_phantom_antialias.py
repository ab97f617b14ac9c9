"""Antialiased phantoms: a coarse voxel integrates its sub-voxels, as a scanner does."""

from __future__ import annotations

import numpy as np

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.data.phantom import realism
from SpineFractureLib.preprocess.geometry import block_mean
from SpineFractureLib.volume import CTVolume

COARSE = dict(size_xyz=(40, 40, 60), spacing=(3.0, 3.0, 2.0), fracture_rate=0.0, noise_hu=0.0,
              streak_probability=0.0)


def test_each_block_of_sub_voxels_covers_its_voxel():
    direction = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    grid = CTVolume(np.zeros((3, 4, 5), np.float32), (3.2, 2.0, 1.5), (10.0, -5.0, 7.0), direction)
    factors = realism.subvoxel_factors(grid.spacing)
    assert factors == (5, 3, 3)  # no sub-voxel over 0.7 mm
    fine = realism.subvoxel_grid(grid, factors)
    assert fine.array.shape == (9, 12, 25)
    k, j, i = np.meshgrid(*(np.arange(n) for n in fine.array.shape), indexing="ij")
    lps = (fine.ijk_to_lps() @ np.stack([i, j, k, np.ones_like(i)]).reshape(4, -1))[:3].T
    centres = np.stack([block_mean(lps[:, a].reshape(fine.array.shape).astype(np.float32), factors)
                        for a in range(3)], axis=-1)
    kk, jj, ii = np.meshgrid(*(np.arange(n) for n in grid.array.shape), indexing="ij")
    expected = (grid.ijk_to_lps() @ np.stack([ii, jj, kk, np.ones_like(ii)]).reshape(4, -1))[:3].T
    np.testing.assert_allclose(centres.reshape(-1, 3), expected, atol=1e-3)
    labels = np.arange(fine.array.size).reshape(fine.array.shape)
    assert realism.block_centre(labels, factors).shape == grid.array.shape


def test_a_fine_grid_is_drawn_as_before():
    cfg = dict(size_xyz=(48, 48, 40), spacing=(0.6, 0.6, 0.7), fracture_rate=1.0)
    plain, aa = make_phantom(3, PhantomConfig(**cfg)), make_phantom(3, PhantomConfig(antialias=True, **cfg))
    np.testing.assert_array_equal(plain.ct.array, aa.ct.array)
    np.testing.assert_array_equal(plain.labels.array, aa.labels.array)


def test_a_coarse_voxel_smooths_the_cortex_instead_of_beading_it():
    plain, aa = (make_phantom(5, PhantomConfig(antialias=flag, **COARSE)) for flag in (False, True))
    assert aa.ct.array.shape == plain.ct.array.shape and aa.ct.spacing == plain.ct.spacing
    np.testing.assert_array_equal(aa.labels.array > 0, plain.labels.array > 0)  # the same truth grid
    assert [aa.truth["levels"][lv]["present"] for lv in aa.truth["levels"]] == \
        [plain.truth["levels"][lv]["present"] for lv in plain.truth["levels"]]

    def steps(case):  # mean HU step between neighbouring bone voxels along x
        hu, bone = case.ct.array, case.labels.array > 0
        return np.abs(np.diff(hu, axis=2))[bone[:, :, 1:] & bone[:, :, :-1]].mean()

    assert steps(aa) < 0.6 * steps(plain)
    # partial volume: a 3 mm voxel never reaches the cortex's own HU
    assert aa.ct.array.max() < plain.ct.array.max()
