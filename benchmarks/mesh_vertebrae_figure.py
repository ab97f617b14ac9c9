"""Side by side: the procedural vertebrae of today's phantoms and the real-shape mesh templates.

    python benchmarks/mesh_vertebrae_figure.py OUT.png

Per level C1–C7 at the reference size: the axial section through the body centre (C1: through
the ring) and the mid-sagittal section, procedural shape (``anatomy.vertebra``) in the top rows,
mesh-based shape as the generator draws it (``mesh_anatomy.mesh_vertebra_shape``: MIT-licensed
neck-model geometry, C2's dens and C5–C7's spinous processes procedural) below, in the
same local frame and on the same 0.25 mm grid. Prints per level the bone volume (ml) of both.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from SpineFractureLib.data.phantom.anatomy import REFERENCE, vertebra
from SpineFractureLib.data.phantom.mesh_anatomy import mesh_vertebra_shape

STEP = 0.25  # mm
U, V, W = np.arange(-45, 45, STEP), np.arange(-25, 60, STEP), np.arange(-25, 30, STEP)


def sections(shape_fn, s):
    uu, vv = np.meshgrid(U, V, indexing="xy")
    axial = shape_fn(uu, vv, np.zeros_like(uu), s) <= 0
    vv2, ww = np.meshgrid(V, W, indexing="xy")
    sagittal = shape_fn(np.zeros_like(vv2), vv2, ww, s) <= 0
    return axial, sagittal


def volume_ml(shape_fn, s) -> float:
    u, v, w = np.meshgrid(U[::2], V[::2], W[::2], indexing="ij")
    return float((shape_fn(u, v, w, s) <= 0).sum()) * (2 * STEP) ** 3 / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    a = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = REFERENCE[:7]
    fig, axes = plt.subplots(4, 7, figsize=(21, 11), dpi=80)
    volumes = {}
    for i, s in enumerate(levels):
        proc = (lambda u, v, w, s: vertebra(u, v, w, s))
        for r, (name, fn) in enumerate((("procedural", proc), ("mesh", mesh_vertebra_shape))):
            ax_axial, ax_sag = axes[2 * r, i], axes[2 * r + 1, i]
            axial, sagittal = sections(fn, s)
            ax_axial.imshow(axial, origin="lower", cmap="bone", extent=(U[0], U[-1], V[0], V[-1]))
            ax_axial.set_title(f"{s.name} {name}: axial w = 0", fontsize=9)
            ax_axial.set_xlabel("u: patient's left (mm)", fontsize=7)
            ax_axial.set_ylabel("v: posterior (mm)", fontsize=7)
            ax_sag.imshow(sagittal, origin="lower", cmap="bone", extent=(V[0], V[-1], W[0], W[-1]))
            ax_sag.set_title(f"{s.name} {name}: mid-sagittal u = 0", fontsize=9)
            ax_sag.set_xlabel("v: posterior (mm)", fontsize=7)
            ax_sag.set_ylabel("w: superior (mm)", fontsize=7)
            volumes.setdefault(s.name, {})[name] = round(volume_ml(fn, s), 2)
    for ax in axes.ravel():
        ax.tick_params(labelsize=6)
    fig.suptitle("Phantom vertebrae at the reference size: procedural (rows 1-2) and mesh-based, as "
                 "anatomy='mesh' draws them (rows 3-4: HYOID neck model geometry, MIT; C2 dens and "
                 "C5-C7 spinous processes procedural)", fontsize=11)
    fig.tight_layout()
    fig.savefig(a.out)
    print(json.dumps(volumes, indent=1))


if __name__ == "__main__":
    main()
