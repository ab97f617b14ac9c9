"""The Grad-CAM picture: written whole, shows the heat where the peak is, copes with absent levels."""

from __future__ import annotations

import numpy as np
import pytest

from SpineFractureLib.report.gradcam_figure import save_gradcam_figure


@pytest.fixture
def crop():
    rng = np.random.default_rng(5)
    hu = rng.normal(40, 10, (60, 40, 36)).astype(np.float32)
    labels = np.zeros(hu.shape, np.uint8)
    for v, z0 in ((2, 10), (3, 28), (4, 44)):
        labels[z0:z0 + 12, 12:28, 10:26] = v
        hu[z0:z0 + 12, 12:28, 10:26] = 600
    heat = np.zeros(hu.shape, np.float32)
    heat[30:36, 16:24, 14:22] = 1.0
    return hu, labels, heat


def test_figure_is_written_whole_with_absent_levels(crop, tmp_path):
    hu, labels, heat = crop
    probs = [None, 0.1, 0.9, 0.2, None, None, None]
    peaks = [None, (15, 20, 18), (33, 20, 18), (50, 20, 18), None, None, None]
    region = np.zeros(hu.shape, np.uint8)
    region[31:35, 17:23, 15:21] = 1
    out = tmp_path / "cam.png"
    save_gradcam_figure(hu, labels, heat, probs, 0.5, out, peak_zyx=peaks, truth_region=region,
                        truth_levels=[-1, 0, 1, 0, -1, -1, -1], title="test", note="trained on synthetic phantoms")
    assert out.stat().st_size > 20_000
    assert [p.name for p in tmp_path.iterdir()] == ["cam.png"]  # no temporary file left


def test_slices_pass_through_the_most_probable_levels_peak(crop, tmp_path):
    import matplotlib.image as mpimg

    hu, labels, heat = crop
    probs = [None, 0.1, 0.9, 0.2, None, None, None]

    def heat_pixels(peak):
        """Pixels the heat map changes, with the slices through ``peak`` (C3's, the most probable)."""
        peaks = [None, None, peak, None, None, None, None]
        save_gradcam_figure(hu, labels, heat, probs, 0.5, tmp_path / "h.png", peak_zyx=peaks)
        save_gradcam_figure(hu, labels, np.zeros_like(heat), probs, 0.5, tmp_path / "n.png", peak_zyx=peaks)
        a, b = mpimg.imread(tmp_path / "h.png")[..., :3], mpimg.imread(tmp_path / "n.png")[..., :3]
        return int((np.abs(a - b).sum(axis=2) > 0.1).sum())

    assert heat_pixels((33, 20, 18)) > 2000  # through the hot box: drawn in both slices
    assert heat_pixels((5, 5, 2)) == 0  # slices that miss it show no heat
