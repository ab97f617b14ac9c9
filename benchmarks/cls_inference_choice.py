"""Choose, on validation phantoms only, how the shipped classifier's outputs become probabilities and peaks.

The network's weights stay as they are; what is compared is inference around it:

- levels: the logits as they are, or averaged with those of the left-right mirrored ROIs
  (test-time flip; training already flips half of the cases, so the mirror is in distribution);
- patient: the patient head's logit, the largest level logit, the mean of the two, or the
  noisy-OR of the calibrated level probabilities; each temperature-scaled on validation;
- heat map: Grad-CAM alone, or Grad-CAM times the fracture-region head's probability
  (the region head points at the fracture on 96 % of true positives; Grad-CAM on 70 %).

The mirror and the patient source are chosen as ``train-cls`` chooses them
(``train.readout_choice.choose_readout``), the heat map by validation pointing rate; the test
seeds are then measured once with the choice, and with today's readout.

    python benchmarks/cls_inference_choice.py --cache CACHE [--val 810000 48 [--val F N ...]] [--test 900000 48 ...]
        [--mesh-val F N ...] [--mesh-test F N ...] [--val-set F N JSON ...] [--test-set F N JSON ...]
        [--segmentation S] [--keep-raw DIR] [--thresholds-on-val]
        [--write-weights OUT.pt --version V [--name N]]

``--mesh-val`` / ``--mesh-test`` are phantom seeds drawn with real-shape vertebrae (``anatomy="mesh"``);
``--val-set`` / ``--test-set`` take any ``PhantomConfig`` fields as JSON, e.g. a coarse scanner
``'{"spacing": [3.2, 3.2, 1.5], "psf_fwhm_mm": 2.0}'``.

Prints one JSON object: per option its validation macro / patient AUC, ECE, RSNA log loss and
pointing rate, the chosen options, and the test figures of the chosen readout, of the plain readout
(``test_today``: head, no mirror, fitted on the same validation) and of the weights' own calibration.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from SpineFractureLib.constants import LEVELS, N_LEVELS
from SpineFractureLib.data.cls_cases import ClsCache
from SpineFractureLib.data.phantom import PhantomConfig
from SpineFractureLib.data.phantom_loaders import config_tag, phantom_loaders
from SpineFractureLib.metrics.classification import (ece_if_calibrated, expected_calibration_error, roc_auc,
                                                     rsna_weighted_log_loss)
from SpineFractureLib.models.classifier_weights import Calibration, load_classifier, recalibrated_copy
from SpineFractureLib.models.cls_readout import HEATMAPS, PATIENT_SOURCES, mirrored, readout_heat
from SpineFractureLib.models.gradcam import gradcam_maps
from SpineFractureLib.models.registry import segmenter_tag
from SpineFractureLib.pipeline.classify import _peaks, region_maps
from SpineFractureLib.pipeline.evaluate_cls import _points_at_fracture
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.preprocess.roi import RoiInputs, extract_rois
from SpineFractureLib.train.readout_choice import (choose_readout, fit_readout, fit_thresholds, macro_level_auc, per_level_auc,
                                                    readout_scores)

log = logging.getLogger("cls_inference_choice")


def case_record(net: torch.nn.Module, inputs: dict, s, device: str | torch.device = "cpu") -> dict | None:
    """One prepared case's record (None where no level was found): ``case``, ``levels``, ``targets``
    (present levels), ``targets7`` (C1..C7 truth), plain and mirrored level and patient logits,
    ``patient`` and, per heat map, whether each fractured level's peak points at its true fracture
    region (``net`` already on ``device``)."""
    rois = extract_rois(s.hu, s.predicted, s.fracture_prob.astype(np.float32) / 255.0)
    RoiInputs(int(inputs.get("windows", 3)), bool(inputs.get("fracture_input", True))).apply(rois.channels)
    if len(rois.levels) == 0:
        return None
    x, lv = torch.from_numpy(rois.channels).to(device), torch.from_numpy(rois.levels).to(device)
    with torch.no_grad():
        z, pz, region = net(x, lv, with_region=True)
        zf, pzf = net(mirrored(x), lv)
    pointing = {name: {int(v): None for v in rois.levels} for name in HEATMAPS}
    if s.fracture_truth is not None and (s.fractured[rois.levels] == 1).any():
        # Grad-CAM (most of a case's time) only where there is a fracture to point at.
        cam = gradcam_maps(net, x, lv)
        reg = region_maps(region, tuple(x.shape[2:]))
        for name in HEATMAPS:
            peaks = _peaks(readout_heat(name, cam, reg), rois.starts, rois.levels, s.predicted)
            pointing[name] = {int(v): (_points_at_fracture(s, int(v) + 1, peaks[int(v)])
                                       if s.fractured[int(v)] == 1 else None)
                              for v in rois.levels}
    return {"case": s.case_id, "levels": rois.levels.tolist(), "targets": s.fractured[rois.levels].tolist(),
            "targets7": s.fractured.tolist(), "level_logits": z.float().cpu().numpy(),
            "level_logits_flip": zf.float().cpu().numpy(), "patient_logit": float(pz), "patient_logit_flip": float(pzf),
            "patient": int((s.fractured == 1).any()), "pointing": pointing}


def raw_outputs(model: str, first: int, count: int, cache: str, phantom: dict | None = None,
                segmentation: str = "default") -> list[dict]:
    """Per case, the records of ``train.classification.predict_logits`` (plain and mirrored logits)
    plus ``targets7`` (C1..C7 truth) and, per heat map, whether each fractured level's peak points
    at its true fracture region (:func:`case_record`); phantoms of the ``PhantomConfig`` fields ``phantom``,
    segmented by the segmentation weights ``segmentation``."""
    loaded = load_classifier(model)
    store = ClsCache(phantom_loaders(range(first, first + count), phantom or {}), cache,
                     lambda: Segmenter(segmentation, "cpu"),
                     tag=segmenter_tag(segmentation))
    cases = []
    for i in range(len(store)):
        record = case_record(loaded.network, loaded.inputs, store[i])
        if record is not None:
            cases.append(record)
        log.info("%s done (%d/%d)", store.loaders[i][0], i + 1, len(store))
    return cases


def cached_raw_outputs(model: str, first: int, count: int, cache: str, keep: str | None,
                       phantom: dict | None = None, segmentation: str = "default") -> list[dict]:
    """:func:`raw_outputs`, kept in ``keep/raw-<model sha256>-<first>-<count>[-<phantom tag>][-seg<tag>].json``
    when ``keep`` is given (a rerun on the same weights, masks and seeds reads it back instead of running
    the network again)."""
    if keep is None:
        return raw_outputs(model, first, count, cache, phantom, segmentation)
    suffix = f"-{_set_name(phantom)}" if phantom else ""
    if segmentation != "default":
        suffix += f"-seg{segmenter_tag(segmentation)[:10]}"
    path = Path(keep) / f"raw-{load_classifier(model).info.sha256[:12]}-{first}-{count}{suffix}.json"
    if path.is_file():
        cases = json.loads(path.read_text())
        for c in cases:  # JSON keys are strings; the levels are ints
            c["pointing"] = {h: {int(v): hit for v, hit in d.items()} for h, d in c["pointing"].items()}
        return cases
    cases = raw_outputs(model, first, count, cache, phantom, segmentation)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cases, default=lambda a: np.asarray(a).tolist()))
    return cases


def _set_name(phantom: dict | None) -> str:
    """A short name of a phantom set's config: ``mesh`` for real shapes alone, else its cache tag."""
    if not phantom:
        return "procedural"
    return "mesh" if phantom == {"anatomy": "mesh"} else config_tag(PhantomConfig(**phantom))


def metrics(cases: list[dict], cal: Calibration, heat: str) -> dict:
    """Macro and patient AUC, ECE, RSNA log loss and pointing rate of one readout on ``cases``
    (``cal`` fitted on validation: its temperatures and balanced threshold are used as they are)."""
    probs, targets, pp = readout_scores(cases, cal)
    py = np.array([c["patient"] for c in cases])
    ly = np.concatenate([t[t >= 0] for t in targets])
    lp = np.concatenate([q[t >= 0] for q, t in zip(probs, targets)])
    prior = float(ly.mean())
    full = np.full((len(cases), N_LEVELS), prior)
    for row, c, q in zip(full, cases, probs):
        row[c["levels"]] = q
    per_level = {name: None if a is None else round(a, 3) for name, a in zip(LEVELS, per_level_auc(cases, cal))}
    balanced = cal.threshold("balanced", "level")
    hits = [c["pointing"][heat][v] for c, q in zip(cases, probs) for v, p in zip(c["levels"], q)
            if c["targets7"][v] == 1 and p >= balanced and c["pointing"][heat][v] is not None]
    return {"macro_auc": round(macro_level_auc(cases, cal), 4), "per_level_auc": per_level,
            "pooled_auc": round(roc_auc(ly, lp), 4), "patient_auc": round(roc_auc(py, pp), 4),
            "ece_level": round(expected_calibration_error(ly, lp), 4),
            "ece_patient": round(expected_calibration_error(py, pp), 4),
            "ece_if_calibrated": {"level": _floor(ly, lp), "patient": _floor(py, pp)},
            "rsna_log_loss": round(rsna_weighted_log_loss(full, np.array([c["targets7"] for c in cases]), pp, py), 4),
            "pointing": round(float(np.mean(hits)), 4) if hits else None, "true_positives": len(hits),
            "readout": {"flip_average": cal.flip_average, "patient_source": cal.patient_source, "heatmap": heat,
                        "temperatures": [round(cal.level_temperature, 4), round(cal.patient_temperature, 4)],
                        "balanced_threshold": balanced}}


def _floor(y: np.ndarray, p: np.ndarray) -> dict | None:
    """The ECE a calibrated model would show on these cases, and the p-value of the measured one."""
    floor = ece_if_calibrated(y, p)
    if floor is None:
        return None
    return {"expected": round(floor["expected"], 4), "p_value": round(floor["p_value"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True)
    parser.add_argument("--model", default="default")
    parser.add_argument("--segmentation", default="default", help="segmentation weights whose masks the classifier reads")
    parser.add_argument("--val", nargs=2, type=int, action="append", metavar=("FIRST", "COUNT"),
                        help="validation seeds (repeat for several ranges; default 810000 48)")
    parser.add_argument("--test", nargs=2, type=int, action="append", metavar=("FIRST", "COUNT"),
                        help="test seeds (repeat for several ranges; default 900000 48)")
    parser.add_argument("--mesh-val", nargs=2, type=int, action="append", default=[], metavar=("FIRST", "COUNT"),
                        help="validation seeds of real-shape (mesh) phantoms")
    parser.add_argument("--mesh-test", nargs=2, type=int, action="append", default=[], metavar=("FIRST", "COUNT"),
                        help="test seeds of real-shape (mesh) phantoms")
    parser.add_argument("--val-set", nargs=3, action="append", default=[], metavar=("FIRST", "COUNT", "JSON"),
                        help="validation seeds drawn with these PhantomConfig fields")
    parser.add_argument("--test-set", nargs=3, action="append", default=[], metavar=("FIRST", "COUNT", "JSON"),
                        help="test seeds drawn with these PhantomConfig fields")
    parser.add_argument("--thresholds-on-val", action="store_true",
                        help="fit the operating points on the --val sets alone (default density), not on "
                             "--mesh-val / --val-set; the readout is still chosen on all of them")
    parser.add_argument("--write-weights", metavar="OUT.pt",
                        help="write the model's network with the chosen readout and calibration here")
    parser.add_argument("--version", help="version recorded in --write-weights (required with it)")
    parser.add_argument("--keep-raw", metavar="DIR", help="keep the network's outputs per weights and seed range here (JSON)")
    parser.add_argument("--name", help="model name recorded in --write-weights (default: the model's own; "
                        "a train-cls run is named spine-cls unless told otherwise)")
    a = parser.parse_args()
    if a.write_weights and not a.version:
        parser.error("--write-weights needs --version (the version the new weights will carry)")
    if a.thresholds_on_val and not a.val and (a.mesh_val or a.val_set):
        parser.error("--thresholds-on-val needs --val sets (default density) to fit the operating points on")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    mesh, sets = {"anatomy": "mesh"}, lambda extra: [(int(f), int(n), json.loads(c)) for f, n, c in extra]
    a.val = [(f, n, {}) for f, n in (a.val or ([] if a.mesh_val or a.val_set else [(810000, 48)]))] \
        + [(f, n, mesh) for f, n in a.mesh_val] + sets(a.val_set)
    a.test = [(f, n, {}) for f, n in (a.test or ([] if a.mesh_test or a.test_set else [(900000, 48)]))] \
        + [(f, n, mesh) for f, n in a.mesh_test] + sets(a.test_set)
    val_sets = [(kind, cached_raw_outputs(a.model, first, count, a.cache, a.keep_raw, kind, a.segmentation))
                for first, count, kind in a.val]
    val = [c for _, cases in val_sets for c in cases]
    info = {"source": "phantoms seeds " + ", ".join(f"{f}..{f + n - 1}{'' if not k else ' ' + _set_name(k)}"
                                                    for f, n, k in a.val), "cases": len(val)}
    chosen = choose_readout(val, info)  # mirror and patient source, by validation AUC
    table = {f"flip={f} patient={p} heat={h}": metrics(val, fit_readout(val, f, p, info), h)
             for f in (False, True) for p in PATIENT_SOURCES for h in HEATMAPS}
    heat = max(HEATMAPS, key=lambda h: metrics(val, chosen, h)["pointing"] or 0.0)  # ties: Grad-CAM alone
    if a.thresholds_on_val:
        fit_thresholds(chosen, [c for kind, cases in val_sets if not kind for c in cases])
        chosen.validation["thresholds_from"] = ", ".join(f"{f}..{f + n - 1}" for f, n, k in a.val if not k)
    chosen.heatmap = heat
    loaded = load_classifier(a.model)  # also the weights' own readout, as they would be shipped
    if a.write_weights:
        digest = recalibrated_copy(a.model, a.write_weights, chosen, version=a.version, name=a.name)
        if loaded.calibration.cut_level_bias:  # fitted on the old readout's probabilities: refit, do not carry
            log.warning("%s had cut-level offsets; the new readout has none: fit them with cls_cut_bias.py",
                        a.model)
        log.info("wrote %s (sha256 %s)", a.write_weights, digest)
    test = [c for first, count, kind in a.test
            for c in cached_raw_outputs(a.model, first, count, a.cache, a.keep_raw, kind, a.segmentation)]
    print(json.dumps({"validation": table, "validation_choice": chosen.validation["readout_choice"],
                      "chosen_on_validation": {"flip_average": chosen.flip_average,
                                               "patient_source": chosen.patient_source, "heatmap": heat},
                      "test_chosen": metrics(test, chosen, heat),
                      "test_today": metrics(test, fit_readout(val, False, "head", info), "gradcam"),
                      "test_own_calibration": metrics(test, loaded.calibration, loaded.calibration.heatmap),
                      "val_seeds": a.val, "test_seeds": a.test}, indent=1))


if __name__ == "__main__":
    main()
