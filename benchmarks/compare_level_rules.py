"""Compare rules that turn the vertebra mask and the level probabilities into C1..C7 labels.

    python benchmarks/compare_level_rules.py --phantoms 24 --seed 800000 --cache /tmp/levelrules

Runs the two networks of a segmentation model once per phantom (cached under ``--cache``), then
applies each rule, followed by the shipped :func:`postprocess_levels`, and prints the evaluation
metrics of each. Use validation seeds (800000...) here, never the held-out test seeds (900000...):
this is where the shipped rule and its threshold are chosen.
"""

from __future__ import annotations

import argparse
import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from SpineFractureLib.data.case import LEVELS
from SpineFractureLib.models import postprocess
from SpineFractureLib.models.postprocess import assign_levels, postprocess_levels
from SpineFractureLib.models.unet import N_CLASSES
from SpineFractureLib.pipeline.evaluate import summarise
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.preprocess.coarse import coarse_channels, coarse_hu, upsample_probabilities
from SpineFractureLib.preprocess.geometry import resample_like
from SpineFractureLib.metrics.segmentation import level_agreement
from SpineFractureLib.data.phantom_loaders import phantom_loaders

log = logging.getLogger("compare_level_rules")
#: (vertebra mask, level probabilities) -> labels; a rule with ``soft = True`` also takes P(vertebra).
Rule = Callable[..., np.ndarray]


def network_outputs(model: str, seeds: list[int], cache: Path) -> list[tuple]:
    """(key, coarse level probabilities, P(vertebra) on the crop, truth on the crop) per phantom."""
    cache.mkdir(parents=True, exist_ok=True)
    segmenter, out = None, []
    for key, load in phantom_loaders(seeds):
        path = cache / f"{key}.pkl"
        if not path.exists():
            segmenter = segmenter or Segmenter(model)
            case = load()
            res = segmenter.segment(case.ct)
            truth = resample_like(case.labels.with_array(case.cervical_labels()), res.crop_labels, is_label=True)
            use_priors = segmenter.model.levels_use_priors
            xc = torch.from_numpy(coarse_channels(coarse_hu(res.crop_hu.array), use_priors=use_priors))
            with torch.no_grad():
                coarse = torch.softmax(segmenter.model.levels(xc[None])[0, :N_CLASSES].float(), 0).numpy()
            vertebra = (1.0 - res.crop_probabilities[0]).astype(np.float16)
            path.write_bytes(pickle.dumps((key, coarse.astype(np.float16), vertebra, truth)))
            log.info("cached %s", key)
        out.append(pickle.loads(path.read_bytes()))
    return out


def dominant_rule(share: float) -> Rule:
    """The 0.1.0 rule: a piece whose top level holds ``share`` of its votes takes it whole."""
    def rule(vertebra: np.ndarray, probs: np.ndarray) -> np.ndarray:
        pieces, _ = ndimage.label(vertebra, structure=np.ones((3, 3, 3), bool))
        out = np.zeros(vertebra.shape, np.uint8)
        for i, box in enumerate(ndimage.find_objects(pieces), start=1):
            mask = pieces[box] == i
            p = probs[(slice(None), *box)][:, mask]
            votes = p.sum(axis=1)
            if votes[0] >= votes[1:].sum():
                continue
            top = votes[1:].max() / votes[1:].sum()
            out[box][mask] = int(np.argmax(votes[1:])) + 1 if top >= share else p[1:].argmax(axis=0) + 1
        return out
    return rule


def voxelwise_rule(vertebra: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """No voting: each vertebra voxel takes the level argmax (where levels outweigh background)."""
    return np.where(vertebra & (probs[1:].sum(0) > probs[0]), probs[1:].argmax(0) + 1, 0).astype(np.uint8)


def constant_rule(name: str, value: float) -> Rule:
    """The shipped :func:`assign_levels` with another value of one of its module constants
    (``CANDIDATE_SHARE``; ``MIN_CANDIDATE_VOXELS``, where 10**9 is the share alone;
    ``CONFIDENT_BACKGROUND``, where 1.1 keeps every voted voxel;
    ``BACKGROUND_SPLIT_SHARE``, where 1.0 drops every background piece)."""
    def rule(vertebra: np.ndarray, probs: np.ndarray) -> np.ndarray:
        saved = getattr(postprocess, name)
        setattr(postprocess, name, value)
        try:
            return assign_levels(vertebra, probs)
        finally:
            setattr(postprocess, name, saved)
    return rule


def _split_merged(vertebra: np.ndarray, probs: np.ndarray, confidence: float, min_levels: int,
                  landscape: Callable[[np.ndarray, tuple], tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The shipped vote, then every piece holding ``min_levels`` levels or more re-split by a marker
    watershed: each level's confident core (``confidence`` of the present levels' share, inside the
    ``core`` that ``landscape(mask, box)`` gives with the ``height`` to flood) grows until they meet."""
    import SimpleITK as sitk

    out = assign_levels(vertebra, probs)
    pieces, _ = ndimage.label(vertebra, structure=np.ones((3, 3, 3), bool))
    for i, box in enumerate(ndimage.find_objects(pieces), start=1):
        box = tuple(slice(max(0, b.start - 1), b.stop + 1) for b in box)
        mask = pieces[box] == i
        levels = np.unique(out[box][mask])
        levels = levels[levels > 0]
        if len(levels) < max(2, min_levels):
            continue
        p = probs[(levels, *box)]
        share = p / np.clip(p.sum(0, keepdims=True), 1e-6, None)
        height, core = landscape(mask, box)
        markers = np.zeros(mask.shape, np.uint8)
        for j, lv in enumerate(levels):
            markers[core & (share[j] >= confidence)] = lv
        if len(np.unique(markers)) - 1 < len(levels):
            continue  # a level without a confident core: keep the voxelwise split
        ws = sitk.GetArrayFromImage(sitk.MorphologicalWatershedFromMarkers(
            sitk.GetImageFromArray(height.astype(np.float32)), sitk.GetImageFromArray(markers),
            markWatershedLine=False, fullyConnected=True))
        out[box][mask] = ws[mask]
    return out


def watershed_rule(confidence: float, min_depth: float) -> Rule:
    """Merged pieces split by a marker watershed on the mask's distance map (narrowest necks)."""
    def landscape(mask: np.ndarray, box: tuple) -> tuple[np.ndarray, np.ndarray]:
        depth = ndimage.distance_transform_edt(mask)
        return np.where(mask, depth.max() - depth, depth.max() + 1), mask & (depth >= min_depth)

    return lambda vertebra, probs: _split_merged(vertebra, probs, confidence, 2, landscape)


def probability_watershed_rule(confidence: float, min_levels: int = 2) -> Rule:
    """Merged pieces split by a marker watershed on 1 - P(vertebra): the levels' confident cores
    flood the piece and meet where the vertebra probability dips, at the discs, instead of where
    the coarse level network switches. Only pieces holding ``min_levels`` levels or more."""
    def rule(vertebra: np.ndarray, probs: np.ndarray, soft: np.ndarray) -> np.ndarray:
        def landscape(mask: np.ndarray, box: tuple) -> tuple[np.ndarray, np.ndarray]:
            return np.where(mask, np.round((1.0 - soft[box]) * 1000.0), 2000.0), mask

        return _split_merged(vertebra, probs, confidence, min_levels, landscape)
    rule.soft = True  # takes P(vertebra) as a third argument
    return rule


RULES: dict[str, Rule] = {
    "shipped": assign_levels,
    **{f"background-split-{s}": constant_rule("BACKGROUND_SPLIT_SHARE", s) for s in (0.1, 0.3, 1.0)},
    **{f"watershed-{c}-{d}": watershed_rule(c, d) for c in (0.8, 0.95) for d in (1.0, 2.0)},
    **{f"prob-watershed-{c}": probability_watershed_rule(c) for c in (0.8, 0.9, 0.95)},
    **{f"prob-watershed-{c}-3": probability_watershed_rule(c, 3) for c in (0.8, 0.9)},
    **{f"confident-background-{t}": constant_rule("CONFIDENT_BACKGROUND", t) for t in (0.99, 0.9999, 1.1)},
    "voxelwise": voxelwise_rule,
    "dominant-0.6": dominant_rule(0.6),
    **{f"candidate-{s}": constant_rule("CANDIDATE_SHARE", s) for s in (0.03, 0.05, 0.2)},
    **{f"candidate-floor-{n}": constant_rule("MIN_CANDIDATE_VOXELS", n) for n in (500, 2000, 10 ** 9)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--phantoms", type=int, default=24)
    parser.add_argument("--seed", type=int, default=800000)
    parser.add_argument("--cache", type=Path, required=True, help="folder for the networks' outputs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rules", nargs="*", default=list(RULES), choices=list(RULES))
    parser.add_argument("--detail", type=float, default=0.8, help="list (case, level) pairs below this Dice")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    cases = network_outputs(args.model, list(range(args.seed, args.seed + args.phantoms)), args.cache)
    for name in args.rules:
        per_case = []
        for key, coarse, vertebra, truth in cases:
            probs = upsample_probabilities(torch.from_numpy(coarse.astype(np.float32)), vertebra.shape).numpy()
            soft = vertebra.astype(np.float32)
            rule = RULES[name]
            labels = postprocess_levels(rule(soft > 0.5, probs, soft) if getattr(rule, "soft", False)
                                        else rule(soft > 0.5, probs))
            per_case.append({"case": key, "levels": level_agreement(truth.with_array(labels), truth)})
        s = summarise(per_case, [])
        log.info("%-14s dice %.3f ident %.3f | %s", name, s["dice"]["mean"], s["identification_rate"],
                 " ".join(f"{lv}:{s['dice'][lv]:.3f}" for lv in LEVELS))
        for c in per_case:
            bad = [f"{lv} {v['dice']:.2f}" for lv, v in c["levels"].items() if v["present"] and v["dice"] < args.detail]
            if bad:
                log.info("    %s: %s", c["case"], ", ".join(bad))


if __name__ == "__main__":
    main()
