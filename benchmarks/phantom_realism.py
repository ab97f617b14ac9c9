"""How CT-like the phantoms are: image statistics of phantoms and of the real CTs, on the same footing.

    python benchmarks/phantom_realism.py OUT_DIR [--phantoms 4] [--seed 950000] [--matched-fov]
        [--anatomy mesh] [--texture] [--phantom-config JSON]

For each real CT in ../shared/data, every phantom is brought to that scan's voxel size (blurred so
that a voxel's width at half maximum is the new spacing, then resampled, as a scanner reconstructs
thicker slices) and both are measured with ``metrics.image_stats``: HU percentiles of the body and
of bone, bone fraction, soft-tissue noise and bone edge sharpness. Writes OUT_DIR/realism.json,
OUT_DIR/realism.md (the table) and OUT_DIR/<scan>-vs-phantom.png (mid-sagittal slices side by
side, bone window). Phantom seeds 950000+ are used by nothing else.

The real scans show other body regions than neck phantoms (a chest, an abdomen): HU percentiles of
the body differ by anatomy as well as by realism; noise, edge sharpness and bone HU compare the
generator's physics. ``--matched-fov`` compares each scan with phantoms of its own field of view
(:data:`MATCHED_FOV`: the head-and-neck series with head-and-neck phantoms, the chest CT with
chest phantoms, the VerSe CT with abdomen phantoms).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from SpineFractureLib.data.phantom import GENERATOR_VERSION, PhantomConfig, make_phantom
from SpineFractureLib.io import load_ct
from SpineFractureLib.metrics.image_stats import PERCENTILES, image_stats
from SpineFractureLib.preprocess.geometry import resample, to_spacing

from real_scans import REAL_SCANS

#: The phantom field of view that shows what each real scan shows.
MATCHED_FOV = {"head-neck": "head-neck", "chest": "chest", "verse-T10-L3": "abdomen"}
COLUMNS = [("body HU p5/p50/p95", lambda s: _pcts(s["body_hu_percentiles"])),
           ("bone HU p5/p50/p95", lambda s: _pcts(s["bone_hu_percentiles"])),
           ("bone fraction", lambda s: f"{s['bone_fraction']:.3f}"),
           ("soft-tissue noise (HU)", lambda s: _num(s["soft_tissue_noise_hu"], 1)),
           ("bone edge (HU/mm)", lambda s: _num(s["bone_edge_hu_per_mm"], 0)),
           ("cancellous spread (HU)", lambda s: _num(s.get("cancellous_spread_hu"), 0))]


def _pcts(values) -> str:
    if values is None:
        return "-"
    pick = [values[PERCENTILES.index(p)] for p in (5, 50, 95)]
    return " / ".join(f"{v:.0f}" for v in pick)


def _num(v, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _mean_stats(stats: list[dict]) -> dict:
    """Mean of each figure over phantoms (None where any phantom has none)."""
    out = {}
    for key in stats[0]:
        values = [s[key] for s in stats]
        if any(v is None for v in values):
            out[key] = None
        elif isinstance(values[0], list):
            out[key] = [round(float(v), 2) for v in np.mean(np.asarray(values, float), axis=0)]
        else:
            out[key] = round(float(np.mean(values)), 4)
    return out


def _picture(real, phantom, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 5.5), dpi=100)
    for ax, (name, ct) in zip(axes, (("real", real), ("phantom", phantom))):
        iso = resample(ct, 1.0, axis_aligned=True)  # LPS, 1 mm, for display only
        x = iso.array.shape[2] // 2
        sag = iso.array[::-1, :, x]  # head up, anterior left
        ax.imshow(sag, cmap="gray", vmin=400 - 900, vmax=400 + 900, aspect="equal")
        ax.set_title(f"{name} at {tuple(round(s, 2) for s in ct.spacing)} mm", fontsize=10)
        ax.set_xlabel("anterior → posterior (mm)")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--phantoms", type=int, default=4)
    parser.add_argument("--seed", type=int, default=950000)
    parser.add_argument("--matched-fov", action="store_true", help="phantoms of each scan's field of view")
    parser.add_argument("--anatomy", default="procedural", help="PhantomConfig.anatomy: procedural or mesh")
    parser.add_argument("--texture", action="store_true", help="PhantomConfig.texture: trabecular texture")
    parser.add_argument("--phantom-config", type=json.loads, default={}, metavar="JSON",
                        help='more PhantomConfig fields, e.g. \'{"cancellous_hu": [450, 600]}\'')
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = range(args.seed, args.seed + args.phantoms)
    kinds = MATCHED_FOV if args.matched_fov else {name: "neck" for name in REAL_SCANS}
    by_kind = {kind: [make_phantom(s, PhantomConfig(**{**args.phantom_config, "fov": kind, "anatomy": args.anatomy,
                                                            "texture": args.texture})).ct
                      for s in seeds] for kind in sorted(set(kinds.values()))}
    results = {"phantom_seeds": [args.seed, args.seed + args.phantoms - 1], "generator_version": GENERATOR_VERSION,
               "anatomy": args.anatomy, "texture": args.texture, "phantom_config": args.phantom_config,
               "phantom_fov": kinds, "scans": {}}
    rows = ["| scan | source | " + " | ".join(c for c, _ in COLUMNS) + " |",
            "|---|---|" + "---|" * len(COLUMNS)]
    for name, (path, _) in REAL_SCANS.items():
        real = load_ct(path, auto_hu_correction=True)
        at_real = [to_spacing(p, real.spacing) for p in by_kind[kinds[name]]]
        entry = {"spacing_mm": [round(s, 3) for s in real.spacing], "real": image_stats(real).as_json(),
                 "phantoms": _mean_stats([image_stats(p).as_json() for p in at_real])}
        results["scans"][name] = entry
        for source in ("real", "phantoms"):
            label = source if source == "real" else f"{kinds[name]} phantoms"
            rows.append(f"| {name} | {label} | " + " | ".join(f(entry[source]) for _, f in COLUMNS) + " |")
        _picture(real, at_real[0], out / f"{name}-vs-phantom.png",
                 f"{name}: real CT and phantom {args.seed} at the same voxel size")
    (out / "realism.json").write_text(json.dumps(results, indent=1))
    table = "\n".join(rows)
    (out / "realism.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
