"""The shipped fracture classifier still tells fractured from intact levels: a change that breaks
it (or the ROIs, the calibration, the pipeline around it) fails here.

Four held-out phantoms (seeds 900110-900113, never training or validation seeds; two with
fractures at difficulty 0.2, two intact) through the registered default segmentation and
classifier on the CPU. This is a regression floor set under what the shipped weights score on
these cases, not the issue's target (the model card gives the held-out metrics). The weights are
trained on synthetic phantoms only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from SpineFractureLib.data.cls_cases import prepare_cls_case
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.io import load_ct
from SpineFractureLib.metrics.classification import roc_auc
from SpineFractureLib.models.classifier_weights import load_classifier
from SpineFractureLib.models.registry import REGISTRY_PATH, read_registry, sha256_of
from SpineFractureLib.pipeline.analyze import Analyzer, default_classifier_installed
from SpineFractureLib.pipeline.classify import Classifier
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.train.fov_cut import cut_field_of_view, cut_plane, end_levels, level_z_ranges

pytestmark = pytest.mark.skipif(not default_classifier_installed(), reason="no classifier is registered")
SEEDS = (900110, 900111, 900112, 900113)
#: Regression floors: under the shipped weights' scores on these four cases (see the model card).
LEVEL_AUC_FLOOR = 0.85  # 0.1.1 measured 0.99 (24 levels, 4 fractured); 0.1.2 to 0.4.0 pass
PATIENT_GAP_FLOOR = 0.2  # 0.1.1 measured 0.55 (fractured 0.81, intact 0.26); 0.1.2 to 0.4.0 pass


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer("default", "default", "cpu")


def held_out_case(seed: int, fractured: bool, **config):
    return make_phantom(seed, PhantomConfig(size_xyz=(128, 128, 140), spacing=(0.8, 0.8, 1.0),
                                            fracture_rate=1.0 if fractured else 0.0, difficulty=0.2,
                                            cut_probability=0.0, **config))


@pytest.fixture(scope="module")
def scored(analyzer):
    levels, patients, warnings = [], [], []
    for i, seed in enumerate(SEEDS):
        case = held_out_case(seed, i % 2 == 0)
        f = analyzer.analyze(case.ct, gradcam=False).findings
        warnings += f.warnings
        for v in f.vertebrae:
            if v.present and v.fracture_probability is not None:
                levels.append((int(bool(case.truth["levels"][v.level]["fractured"])), v.fracture_probability))
        patients.append((int(case.truth["patient_fractured"]), f.patient["fracture_probability"]))
    return levels, patients, warnings


def test_registry_entry_and_card():
    registry = read_registry()
    name = registry["default"]["classification"]
    entry = next(m for m in registry["models"] if m["name"] == name and m["task"] == "classification")
    assert sha256_of(Path(REGISTRY_PATH).parent / entry["file"]) == entry["sha256"]
    assert entry["trained_on"] == "synthetic phantoms"
    card = Path(__file__).resolve().parents[1] / entry["card"]
    assert card.is_file() and "synthetic phantoms" in card.read_text()
    low, high = load_classifier("default").cancellous_hu  # the bone it learnt from, for the porotic warning
    assert 0 < low < high < 900


POROTIC_SEED = 1530004  # the density probe of the model card (session 39); never a training or choice seed


def test_bone_less_dense_than_the_training_phantoms_is_warned_about(analyzer, scored):
    assert not any("less dense than the phantoms" in w for w in scored[2])  # default bone: no warning
    low = load_classifier("default").cancellous_hu[0]
    case = held_out_case(POROTIC_SEED, False, cancellous_hu=(low - 100.0, low - 40.0))
    f = analyzer.analyze(case.ct, gradcam=False).findings
    warning = [w for w in f.warnings if "less dense than the phantoms" in w]
    assert len(warning) == 1, f.warnings
    measured = float(warning[0].split(" measures ")[1].split(" HU")[0])
    assert low - 110.0 <= measured <= low - 30.0  # the measured median follows the drawn density


def test_shipped_classifier_separates_fractured_levels(scored):
    levels, patients, _ = scored
    y, p = zip(*levels)
    assert sum(y) >= 2 and len(y) >= 20
    assert all(0.0 <= q <= 1.0 for q in p)
    assert roc_auc(y, p) >= LEVEL_AUC_FLOOR
    fractured = np.mean([q for t, q in patients if t])
    intact = np.mean([q for t, q in patients if not t])
    assert fractured - intact > PATIENT_GAP_FLOOR


#: Intact phantoms scanned as coarsely as the real head-and-neck series of ../shared/data
#: (3.2 x 3.2 x 1.5 mm; antialiased: a scanner integrates over its voxel). Seeds used by nothing else.
COARSE_SEEDS = (1530000, 1530001)
COARSE_MEAN_CEILING = 0.3  # 0.3.0 measured 0.08; 0.1.4, never trained on coarse scans, about 0.55
COARSE_SHARE_CEILING = 0.25  # levels over the balanced threshold: 0.3.0 1 of 14; 0.1.4 about 3 in 4


def test_a_coarse_scan_of_an_intact_neck_is_not_called_fractured():
    analyzer = Analyzer("default", "default", "cpu")
    probs, over = [], []
    for seed in COARSE_SEEDS:
        case = make_phantom(seed, PhantomConfig(spacing=(3.2, 3.2, 1.5), psf_fwhm_mm=2.0, antialias=True,
                                                fracture_rate=0.0, cut_probability=0.0))
        f = analyzer.analyze(case.ct, gradcam=False).findings
        present = [v for v in f.vertebrae if v.present and v.fracture_probability is not None]
        assert len(present) >= 5
        probs += [v.fracture_probability for v in present]
        over += [v.fracture for v in present]
        assert any("coarser than fracture CT" in w for w in f.warnings)
    assert np.mean(probs) <= COARSE_MEAN_CEILING
    assert np.mean(over) <= COARSE_SHARE_CEILING


#: Intact necks whose scan ends half-way through the top or the bottom vertebra (the segmentation's
#: masks cut as the scan would cut them, ``train.fov_cut``). Seeds used by nothing else.
CUT_SEEDS = (1530002, 1530003)
CUT_CEILING = 0.2  # 0.3.1 measured at most 0.05, 0.4.0 passes; 0.3.0, never trained on cut scans, 0.79 and 0.81 at the bottom


def test_a_vertebra_cut_in_half_by_the_scan_edge_is_not_called_fractured():
    segmenter, classifier = Segmenter("default", "cpu"), Classifier("default", "cpu")
    for seed in CUT_SEEDS:
        case = make_phantom(seed, PhantomConfig(size_xyz=(128, 128, 140), spacing=(0.8, 0.8, 1.0),
                                                fracture_rate=0.0, cut_probability=0.0))
        sample = prepare_cls_case(case, segmenter)
        ranges = level_z_ranges(sample.predicted)
        for end in ("top", "bottom"):
            level = end_levels(ranges, end)[0]
            cut = cut_field_of_view(sample, end, cut_plane(ranges[level], end, 0.5))
            result = classifier.classify(cut.hu.astype(np.float32), cut.predicted,
                                         cut.fracture_prob.astype(np.float32) / 255.0, gradcam=False)
            p = result.probabilities[level - 1]
            assert p is not None and p <= CUT_CEILING and not result.fractured[level - 1], (seed, end, p)


def test_the_real_head_and_neck_series_gets_no_fracture_call(shared_data):
    """The real series of ../shared/data has no known fracture (most likely none): no level and no
    patient over the balanced thresholds. Until the fracture-region map was read only inside the
    level masks (``preprocess.roi.roi_channels``) 0.3.1 called C3 fractured here (0.62, patient
    0.58): the map's 1-2 mm rim past C3's mask (benchmarks/cls_real_series.py). A regression
    guard, not evidence of specificity on real CT: with this series' bone 100 HU less dense the
    same weights call C2 and C3 (the density probe of cls_real_series.py, model card session 37)."""
    ct = load_ct(shared_data / "ct-head-neck-dicom", auto_hu_correction=True)
    f = Analyzer("default", "default", "cpu").analyze(ct, gradcam=False).findings
    present = [v for v in f.vertebrae if v.present and v.fracture_probability is not None]
    assert len(present) >= 5
    assert not [(v.level, round(v.fracture_probability, 2)) for v in present if v.fracture]
    assert not f.patient["fracture"], f.patient
