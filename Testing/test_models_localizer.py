"""The localizer: levels and box from a class map, the network's shapes, weights files, a tiny run."""

import numpy as np
import pytest
import torch

from conftest import localizer_grid as _grid
from SpineFractureLib.cli.main import main
from SpineFractureLib.data.localizer_cases import FOV_MIX, localizer_phantom_config
from SpineFractureLib.errors import InputError
from SpineFractureLib.models.column_anatomy import (
    COLUMN_EDGE_MM,
    MAX_CUT_EDGE_RUN_MM,
    MIN_COLUMN_MM,
    MIN_CUT_COLUMN_MM,
    MIN_SPINE_BELOW_ML,
)
from SpineFractureLib.models.localizer import (
    load_localizer,
    localization_from_classes,
    new_localizer_network,
    predict_classes,
    save_localizer,
)
from SpineFractureLib.train.localizer import LocTrainConfig, train_localizer
from SpineFractureLib.train.loop import LoopOptions


def test_the_spine_is_the_largest_cervical_piece():
    classes = np.zeros((40, 30, 30), np.uint8)
    classes[10:28, 10:16, 12:18] = 1  # 648 voxels = 41.5 ml, 72 mm tall
    classes[2:4, 2:4, 2:4] = 1  # a stray speck far away
    classes[33:36, 22:26, 22:26] = 2  # another vertebra, off the column
    grid = _grid(classes.shape, body_from_k=10)  # the column reaches the body's lowest slice
    loc = localization_from_classes(classes, grid)
    assert loc.found and loc.cervical_ml == pytest.approx(648 * 0.064, abs=0.01)
    lo, hi = loc.box_lps
    assert lo == pytest.approx((12 * 4 - 2, 10 * 4 - 2, 10 * 4 - 2)) and hi == pytest.approx((17 * 4 + 2, 15 * 4 + 2, 27 * 4 + 2))
    mask = loc.cervical_mask().array
    assert mask.sum() == 648 and not mask[2, 2, 2]
    assert loc.cervical_mask(8.0).array.sum() > 648
    classes[24:28] = 0  # 56 mm of column left, ending 40 mm above the scan's edge: too short
    assert not localization_from_classes(classes, _grid(classes.shape)).found


def test_a_short_column_is_a_spine_only_where_the_scans_lower_edge_cuts_it():
    # A head CT that ends at C2: 32-36 mm of column reach the lowest slice (phantoms 1274000-1274003).
    classes = np.zeros((40, 30, 30), np.uint8)
    classes[0:8, 10:16, 12:18] = 1  # 32 mm, 18 ml, down to the lowest slice
    assert MIN_CUT_COLUMN_MM <= 32.0 < MIN_COLUMN_MM
    assert localization_from_classes(classes, _grid(classes.shape)).found
    lifted = np.roll(classes, 12, axis=0)  # the same piece 48 mm above the edge: skull wall
    assert not localization_from_classes(lifted, _grid(classes.shape)).found
    classes[6:8] = 0  # 24 mm: too short even at the edge (skull-wall pieces there are 8-16 mm)
    assert not localization_from_classes(classes, _grid(classes.shape)).found


def test_a_cervical_looking_piece_with_no_spine_below_it_is_no_cervical_spine():
    # Head-only phantoms: a stretch of occipital skull wall on the midline, marked cervical, 72 mm
    # tall, ending 40 mm above the scan's lower edge with nothing below it (seeds 1290034, 1290047).
    classes = np.zeros((40, 30, 30), np.uint8)
    classes[10:28, 10:16, 12:18] = 1
    assert (10 * 4.0) > COLUMN_EDGE_MM
    assert not localization_from_classes(classes, _grid(classes.shape)).found
    classes[0:10, 10:16, 12:18] = 2  # a thoracic column below it (23 ml): a spine
    assert 360 * 0.064 >= MIN_SPINE_BELOW_ML
    assert localization_from_classes(classes, _grid(classes.shape)).found
    classes[0:10] = 0
    classes[2:4, 10:16, 12:18] = 2  # 4.6 ml of other vertebra below: not enough
    assert 72 * 0.064 < MIN_SPINE_BELOW_ML
    assert not localization_from_classes(classes, _grid(classes.shape)).found
    # The same piece in a scan whose body starts 8 mm below it: the spine is cut by the scan's edge.
    assert localization_from_classes(classes, _grid(classes.shape, body_from_k=8)).found


def test_a_small_cervical_piece_or_none_means_not_found():
    classes = np.zeros((20, 20, 20), np.uint8)
    classes[5:10, 5:10, 5:10] = 2
    assert not localization_from_classes(classes, _grid(classes.shape)).found
    classes[12:15, 12:15, 12:15] = 1  # 27 voxels = 1.7 ml: less than one vertebra
    loc = localization_from_classes(classes, _grid(classes.shape))
    assert not loc.found and loc.box_lps is None and not loc.cervical_mask().array.any()


def test_cervical_voxels_below_other_vertebrae_or_off_the_column_are_no_cervical_spine():
    classes = np.zeros((60, 30, 40), np.uint8)
    classes[5:55, 12:18, 15:21] = 2  # a column of other vertebrae, feet (k=0) to head
    classes[22:32, 12:18, 15:21] = 1  # cervical-looking bodies in its middle (a misread lumbar body)
    assert not localization_from_classes(classes, _grid(classes.shape)).found
    classes[45:55, 12:18, 15:21] = 1  # at the column's top instead: a cervical spine
    classes[22:32, 12:18, 15:21] = 2
    classes[20:40, 20:24, 34:38] = 1  # a humerus-like piece off the column
    loc = localization_from_classes(classes, _grid(classes.shape))
    assert loc.found and loc.cervical_ml == pytest.approx(360 * 0.064, abs=0.01)
    assert loc.box_lps[0][0] == pytest.approx(15 * 4 - 2)  # the box is the column's, not the arm's


def test_a_short_other_vertebra_run_at_the_lower_edge_is_a_cut_vertebra_where_a_level_may_lie():
    classes = np.zeros((60, 10, 10), np.uint8)
    classes[4:40, 4:6, 4:6] = 1  # cervical spine, 144 mm
    classes[0:4, 4:6, 4:6] = 2  # 16 mm of "other vertebra" down to the scan's lower edge: a cut C6
    grid = _grid(classes.shape)
    loc = localization_from_classes(classes, grid)
    assert loc.found and loc.junction_z_mm is None
    assert loc.cut_edge is not None and loc.cut_edge.sum() == 16 and not (loc.cut_edge & loc.mask).any()
    region = loc.region_mask().array.astype(bool)
    assert region[1, 4, 4] and not loc.cervical_mask().array[1, 4, 4]
    classes[0, 4:6, 4:6] = 0  # the edge row holds only partial voxels: still the edge
    assert localization_from_classes(classes, grid).cut_edge is not None
    classes[1, 4:6, 4:6] = 0  # a gap of two rows: the run does not reach the edge
    assert localization_from_classes(classes, grid).cut_edge is None
    long = np.zeros((60, 10, 10), np.uint8)
    long[8:40, 4:6, 4:6] = 1
    long[0:8, 4:6, 4:6] = 2  # 32 mm: a whole T1 and more, not one cut vertebra
    assert 16.0 < MAX_CUT_EDGE_RUN_MM < 32.0
    assert localization_from_classes(long, grid).cut_edge is None


def test_network_takes_any_size_and_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    net = new_localizer_network((4, 8, 16)).eval()
    hu = np.random.default_rng(0).normal(0, 300, (21, 18, 13)).astype(np.float32)
    classes = predict_classes(net, hu)
    assert classes.shape == hu.shape and classes.dtype == np.uint8 and classes.max() <= 2
    path = tmp_path / "loc.pt"
    digest = save_localizer(path, net, name="tiny-loc", version="0", trained_on="synthetic phantoms")
    loaded, info = load_localizer(str(path))
    assert info.name == "tiny-loc" and info.sha256 == digest
    np.testing.assert_array_equal(predict_classes(loaded, hu), predict_classes(net.half().float(), hu))


def test_a_weights_file_of_another_model_is_refused(tmp_path):
    path = tmp_path / "not-loc.pt"
    torch.save({"format": "something-else"}, path)
    with pytest.raises(InputError, match="localization weights"):
        load_localizer(str(path))


def test_training_phantoms_cover_every_field_of_view():
    kinds = {localizer_phantom_config(s).fov for s in range(60)}
    assert kinds == set(FOV_MIX)


def test_tiny_run_lowers_the_loss_and_writes_weights(tmp_path):
    neck = next(s for s in range(40) if localizer_phantom_config(s).fov == "neck")  # quick to draw
    cfg = LocTrainConfig(out=str(tmp_path / "run"), phantom_seeds=(neck, 1), cache=str(tmp_path / "cache"),
                         channels=(4, 8, 16), patch_zyx=(32, 32, 32), cervical_share=1.0, device="cpu",
                         loop=LoopOptions(steps=12, lr=0.01, log_every=4, checkpoint_every=12))
    summary = train_localizer(cfg, name="tiny-loc", version="0")
    assert summary["steps"] == 12 and summary["last_loss"] < summary["first_loss"]
    net, info = load_localizer(summary["model"])
    assert info.name == "tiny-loc" and info.trained_on == "synthetic phantoms"


def test_train_loc_bad_config_exits_2(tmp_path, capsys):
    code = main(["train-loc", "--out", str(tmp_path / "x"), "--patch", "30", "30", "30"])
    assert code == 2
    assert "patch_zyx" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
