"""The localizer on its own (phantoms-v2 issue, item 4): crop error and none-in-view accuracy.

    python benchmarks/localizer_eval.py [--phantoms 8] [--seed 960000] [--anatomy mesh] [--model FILE]

The localizer is the trained network (`models/localizer.py`, on by default in the segmenter) with
the bone-column heuristic (`preprocess/crop.py`) placing the crop where the two agree, and the
anatomical checks on what the segmentation finds (`models/level_checks.py`); the neck and
none-in-view figures below measure the whole chain, the per-kind table the network too
(`localizer_found`). Per field-of-view kind:

- neck phantoms (random pose, spacing and cut ends): whether the bone column was found, the
  in-plane distance (mm) from the segmenter's crop box (the heuristic's, or the localizer's where
  they disagree) to the centroid of the true levels, the share of the true levels' voxels inside
  it, and the levels reported against those in view;
- no cervical spine in view: each phantom's part above C1 (the skull base only) and below C7 (a
  slab of T1-T2), and the real VerSe CT (T10-L3): the share where no level is reported;
- the real chest CT (top slices hold the lowest cervical levels): the levels reported;
- the generator's other fields of view (chest, abdomen, head, whole body; a neck with contrast),
  contrast phase none / arterial / venous in turn: the levels reported against the levels in
  view (centre in the scan), the levels only partly in view (centre outside, some voxels inside),
  the levels invented (reported, no voxel of them in the scan), and the voxels labelled as a cervical level
  where the truth holds another bone or none (``wrong_voxel_share`` of the labelled voxels).

Prints one JSON object. Phantom seeds 960000+ are used by nothing else (961000+ for the fields of
view, 1000 per kind).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.data.phantom.trunk_tissue import CONTRAST_PHASES
from SpineFractureLib.io import load_ct
from SpineFractureLib.models.level_checks import Renumbering
from SpineFractureLib.pipeline import segment as segment_module
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.preprocess.crop import crop_to_box

from real_scans import REAL_SCANS


def _levels(seg: Segmenter, ct) -> list[int]:
    return [int(v) for v in np.unique(seg.segment(ct).labels.array) if v]


_OTHER = [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 4)]  # phantom labels 8..22


def _misnamed(pred: np.ndarray, truth: np.ndarray) -> dict[str, str]:
    """Reported level -> the bone most of its bone voxels lie in, where that is another one."""
    out = {}
    for v in np.unique(pred[pred > 0]):
        under = truth[(pred == v) & (truth > 0)]
        if under.size:
            major = int(np.bincount(under).argmax())
            if major != v:
                out[LEVELS[int(v) - 1]] = LEVELS[major - 1] if major <= len(LEVELS) else _OTHER[major - len(LEVELS) - 1]
    return out


FOV_RUNS = (("chest", None), ("abdomen", None), ("head", None), ("whole-body", None), ("neck", "arterial"),
            ("head-neck", None), ("head-upper-neck", None))


def fields_of_view(seg: Segmenter, count: int, first_seed: int = 961000, anatomy: str = "procedural") -> dict:
    # The segmenter's own localizer (when it has one) is measured on the same cases.
    """Per field-of-view kind: levels reported vs in view, invented levels, wrongly labelled voxels."""
    out = {}
    for k, (kind, phase) in enumerate(FOV_RUNS):
        cases = []
        for i in range(count):
            seed = first_seed + 1000 * k + i
            contrast = phase or CONTRAST_PHASES[i % len(CONTRAST_PHASES)]
            case = make_phantom(seed, PhantomConfig(fov=kind, contrast=contrast, anatomy=anatomy))
            truth = case.labels.array
            result = seg.segment(case.ct)
            pred = result.labels.array
            in_view = [lv for lv in LEVELS if case.truth["levels"][lv]["present"]]
            loc = result.localization
            centre_error = None
            cervical = (truth >= 1) & (truth <= 7)
            if loc is not None and loc.found and cervical.any():
                centre = case.ct.index_to_lps(np.argwhere(cervical).mean(axis=0)[::-1])
                box_centre = (np.asarray(loc.box_lps[0]) + np.asarray(loc.box_lps[1])) / 2
                centre_error = round(float(np.linalg.norm(box_centre[:2] - centre[:2])), 1)
            reported = [LEVELS[int(v) - 1] for v in np.unique(pred) if v]
            labelled = pred > 0
            wrong = labelled & (pred != truth)
            # The truth's "present" means the level's centre is in view; a level cut by the scan's
            # edge with its centre outside is still that vertebra, so reporting it invents nothing.
            # The generator clears such a level from the labels and says so in the truth.
            partly = [lv for lv in LEVELS if case.truth["levels"][lv]["partly_in_view"]]
            cases.append({"seed": seed, "contrast": contrast, "in_view": in_view, "partly_in_view": partly,
                          "reported": reported,
                          "invented": [lv for lv in reported if lv not in in_view and lv not in partly],
                          "misnamed": {k: v for k, v in _misnamed(pred, truth).items() if k not in partly},
                          "junction_notes": [n for n in result.notes if "junction" in n],
                          "missed": [lv for lv in in_view if lv not in reported],
                          "wrong_voxel_share": round(float(wrong.sum() / max(labelled.sum(), 1)), 3),
                          "localizer_found": None if loc is None else loc.found,
                          "localizer_cervical_ml": None if loc is None else loc.cervical_ml,
                          "localizer_in_plane_error_mm": centre_error})
        out[kind + (f" ({phase})" if phase else "")] = {
            "cases": len(cases), "cases_with_invented_levels": sum(bool(c["invented"]) for c in cases),
            "cases_with_misnamed_levels": sum(bool(c["misnamed"]) for c in cases),
            "levels_missed": sum(len(c["missed"]) for c in cases),
            "levels_in_view": sum(len(c["in_view"]) for c in cases),
            "localizer_right_about_a_spine": sum(c["localizer_found"] == bool(c["in_view"]) for c in cases),
            "per_case": cases}
    return out


def cut_necks(seg: Segmenter, first_seed: int, count: int, anatomy: str = "procedural") -> dict:
    """Neck phantoms cut at both ends (``cut_probability=1.0``): levels reported and misnamed."""
    cases = []
    for seed in range(first_seed, first_seed + count):
        contrast = CONTRAST_PHASES[seed % len(CONTRAST_PHASES)]
        case = make_phantom(seed, PhantomConfig(fov="neck", contrast=contrast, cut_probability=1.0, anatomy=anatomy))
        result = seg.segment(case.ct)
        pred = result.labels.array
        cases.append({"seed": seed, "contrast": contrast,
                      "in_view": [lv for lv in LEVELS if case.truth["levels"][lv]["present"]],
                      "reported": [LEVELS[int(v) - 1] for v in np.unique(pred) if v],
                      "partly_in_view": [lv for lv in LEVELS if case.truth["levels"][lv]["partly_in_view"]],
                      "misnamed": {k: v for k, v in _misnamed(pred, case.labels.array).items()
                                   if not case.truth["levels"][k]["partly_in_view"]},
                      "renumbering_notes": [n for n in result.notes if "network's" in n]})
    return {"cases": len(cases), "cases_with_misnamed_levels": sum(bool(c["misnamed"]) for c in cases),
            "per_case": cases}


def validation_mix(seg: Segmenter, count: int) -> dict:
    """The localizer alone on the training mix's configurations, validation seeds 3100000+ (not held out)."""
    from SpineFractureLib.data.localizer_cases import localizer_phantom_config

    cases = []
    for seed in range(3100000, 3100000 + count):
        cfg = localizer_phantom_config(seed)
        case = make_phantom(seed, cfg)
        in_view = [lv for lv in LEVELS if case.truth["levels"][lv]["present"]]
        loc = seg.localizer.locate(case.ct)
        cases.append({"seed": seed, "fov": cfg.fov, "in_view": in_view, "found": loc.found, "ml": loc.cervical_ml})
    return {"cases": len(cases), "right": sum(c["found"] == bool(c["in_view"]) for c in cases), "per_case": cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=8)
    parser.add_argument("--seed", type=int, default=960000)
    parser.add_argument("--fov-phantoms", type=int, default=3, help="phantoms per other field-of-view kind (0: none)")
    parser.add_argument("--fov-seed", type=int, default=961000,
                        help="first seed of the field-of-view phantoms (1000 apart per kind)")
    parser.add_argument("--validation", type=int, default=0, help="validation phantoms of the localizer's mix")
    parser.add_argument("--cut-necks", type=int, nargs=2, metavar=("FIRST_SEED", "COUNT"),
                        help="also neck phantoms cut at both ends (session 24: 1240000 16)")
    parser.add_argument("--no-junction-anchor", action="store_true",
                        help="leave the numbering as the level network gives it (the rule before session 24)")
    parser.add_argument("--anatomy", default="procedural", choices=("procedural", "mesh"),
                        help="phantom vertebrae (mesh: real shapes, phantoms v2)")
    parser.add_argument("--model", default="default", help="segmentation weights (default, or an export-seg file)")
    args = parser.parse_args()
    if args.no_junction_anchor:
        segment_module.anchor_at_junction = lambda labels, *a, **k: Renumbering(labels)
    seg = Segmenter(args.model, "cpu")
    neck, none_in_view = [], []
    for seed in range(args.seed, args.seed + args.phantoms):
        case = make_phantom(seed, PhantomConfig(anatomy=args.anatomy))
        lab = case.labels.array
        result = seg.segment(case.ct)  # its box: the heuristic's, or the localizer's where they disagree
        box = result.box
        cervical = (lab >= 1) & (lab <= 7)
        kji = np.argwhere(cervical).mean(axis=0)
        centre = case.ct.index_to_lps(kji[::-1])
        inside = crop_to_box(case.labels.with_array(cervical.astype(np.uint8)), box, is_label=True).array.sum()
        voxel_mm3 = float(np.prod(case.ct.spacing))
        reported = sorted(int(v) for v in np.unique(result.labels.array) if v)
        neck.append({"seed": seed, "column_found": box.column_found,
                     "levels_reported": [LEVELS[v - 1] for v in reported],
                     "levels_in_view": [lv for lv in LEVELS if case.truth["levels"][lv]["present"]],
                     "in_plane_error_mm": round(float(np.linalg.norm(np.subtract(box.centre_lps[:2], centre[:2]))), 1),
                     "share_inside": round(float(inside / (cervical.sum() * voxel_mm3)), 3)})
        # The grid's z index may run either way: find the slices above C1 and below C7 in LPS z.
        z_lps = case.ct.index_to_lps(np.array([[0, 0, k] for k in range(lab.shape[0])], float))[:, 2]
        rows = np.nonzero(cervical.any(axis=(1, 2)))[0]
        up = 1 if z_lps[-1] > z_lps[0] else -1
        top, bottom = (rows.max(), rows.min()) if up > 0 else (rows.min(), rows.max())
        parts = {"above C1": (top + up * 3, lab.shape[0] if up > 0 else -1),
                 "below C7": (bottom - up * 3, -1 if up > 0 else lab.shape[0])}
        for name, (a, b) in parts.items():
            lo, hi = sorted((a, b))
            lo, hi = max(lo + (1 if a > b else 0), 0), min(hi + (1 if a > b else 0), lab.shape[0])
            if hi - lo < 4:
                continue
            part = case.ct.sub_volume((lo, 0, 0), (hi, lab.shape[1], lab.shape[2]))
            found = _levels(seg, part)
            none_in_view.append({"case": f"phantom {seed} {name}", "slices": int(hi - lo), "levels_reported": found})
    verse = load_ct(REAL_SCANS["verse-T10-L3"][0])
    none_in_view.append({"case": "real VerSe T10-L3", "levels_reported": _levels(seg, verse)})
    chest = _levels(seg, load_ct(REAL_SCANS["chest"][0]))
    errors = [c["in_plane_error_mm"] for c in neck] or [float("nan")]
    print(json.dumps({
        "neck_phantoms": {"cases": len(neck), "column_found_rate": float(np.mean([c["column_found"] for c in neck] or [0])),
                          "in_plane_error_mm_median": float(np.median(errors)), "in_plane_error_mm_max": max(errors),
                          "share_inside_min": min([c["share_inside"] for c in neck] or [float("nan")]),
                          "cases_with_all_levels_in_view_reported": sum(c["levels_reported"] == c["levels_in_view"]
                                                                        for c in neck),
                          "per_case": neck},
        "none_in_view": {"cases": len(none_in_view),
                         "accuracy": float(np.mean([not c["levels_reported"] for c in none_in_view])),
                         "per_case": none_in_view},
        "real_chest_levels_reported": chest,
        "fields_of_view": fields_of_view(seg, args.fov_phantoms, args.fov_seed, args.anatomy) if args.fov_phantoms else {},
        "validation_mix": validation_mix(seg, args.validation) if args.validation else {},
        "cut_necks": cut_necks(seg, *args.cut_necks, args.anatomy) if args.cut_necks else {}}, indent=1))


if __name__ == "__main__":
    main()
