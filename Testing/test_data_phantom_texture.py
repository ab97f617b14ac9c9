"""Trabecular texture: a seeded, periodic, unit-variance field in each bone's own frame, added to
cancellous bone only and drawn from its own random stream."""

import numpy as np
import pytest

from SpineFractureLib.data.phantom.texture import AMPLITUDE_HU, FIELD_SPACING_MM, FIELD_VOXELS, sample_texture

SMALL = dict(size_xyz=(96, 96, 120), spacing=(0.8, 0.8, 0.8), noise_hu=0, streak_probability=0.0,
             fracture_rate=0.0, pose=False)


def test_field_is_seeded_unit_variance_and_periodic():
    a, b = sample_texture(np.random.default_rng(3)), sample_texture(np.random.default_rng(3))
    assert np.array_equal(a.field, b.field) and a.amplitude_hu == b.amplitude_hu
    assert AMPLITUDE_HU[0] <= a.amplitude_hu <= AMPLITUDE_HU[1]
    assert abs(float(a.field.mean())) < 1e-3 and 1.0 <= float(a.field.std()) < 1.6  # on the grid
    rng = np.random.default_rng(0)
    u, v, w = (rng.uniform(-30, 30, 500).astype(np.float32) for _ in range(3))
    period = FIELD_VOXELS * FIELD_SPACING_MM
    assert np.allclose(a.hu(u, v, w, "C4"), a.hu(u + period, v, w - period, "C4"), atol=1e-2)
    here, there = a.hu(u, v, w, "C4"), a.hu(u, v, w, "C5")
    assert np.corrcoef(here, there)[0, 1] < 0.5  # neighbours do not repeat one pattern
    assert float(here.std()) == pytest.approx(a.amplitude_hu, rel=0.2)  # what a scan's voxels see
    assert float(sample_texture(np.random.default_rng(4)).hu(u, v, w, "C4").std()) > 0


def test_texture_changes_cancellous_bone_only_and_nothing_else_of_the_phantom():
    from scipy import ndimage

    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom

    flat = make_phantom(5, PhantomConfig(**SMALL, psf_fwhm_mm=0.0))
    mottled = make_phantom(5, PhantomConfig(**SMALL, psf_fwhm_mm=0.0, texture=True))
    assert np.array_equal(flat.labels.array, mottled.labels.array)
    assert flat.truth == mottled.truth
    changed = np.abs(flat.ct.array - mottled.ct.array) > 2.0  # below that: the residual blur's tails
    assert changed.any()
    hu = flat.ct.array
    # only where bone below cortical density was drawn (cancellous): never soft tissue, air or cortex
    assert np.all((hu[changed] > 100.0) & (hu[changed] < 700.0))
    body = ndimage.distance_transform_edt(flat.labels.array == 4, sampling=0.8) > 2.5
    assert mottled.ct.array[body].std() > flat.ct.array[body].std() + 20.0


def test_texture_keeps_the_default_cache_tag_and_gets_its_own():
    from SpineFractureLib.data.phantom import PhantomConfig
    from SpineFractureLib.data.phantom_loaders import config_tag

    assert config_tag(PhantomConfig(texture=False)) == "e623abc9"
    assert config_tag(PhantomConfig(texture=True)) != "e623abc9"
