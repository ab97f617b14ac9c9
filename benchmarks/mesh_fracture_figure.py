"""Every fracture kind of the phantoms, on the procedural and on the real-shape (mesh) vertebrae.

    python benchmarks/mesh_fracture_figure.py OUT.png [--difficulty 0.0]

One column per kind (wedge, biconcave and crush compressions of C5, a crack through the C6 body,
one through a C6 pedicle, a C6 teardrop fragment, a C2 dens fracture, a C1 arch break), drawn at
the reference size in the vertebra's own frame on a 0.25 mm grid: bone grey, the fracture-region
truth red. Top row procedural (``anatomy.vertebra``), bottom row the shape that
``PhantomConfig(anatomy="mesh")`` draws (``mesh_anatomy.mesh_vertebra_shape``). The section
passes through the fracture: mid-sagittal for compressions and body cracks, sagittal through the
fragment or dens break, axial through pedicle and arch breaks. Each fracture is the first one of
its kind that ``fractures.sample_fracture`` draws from seeds 0, 1, 2, ... at ``--difficulty``
(on the mesh moved by ``mesh_fractures.fit_fracture``, as the generator does).
"""

from __future__ import annotations

import argparse

import numpy as np

from SpineFractureLib.data.phantom import anatomy, fractures
from SpineFractureLib.data.phantom.anatomy import REFERENCE
from SpineFractureLib.data.phantom.mesh_anatomy import mesh_shape, mesh_vertebra_shape
from SpineFractureLib.data.phantom.mesh_fractures import fit_fracture

STEP = 0.25  # mm
#: (title, level, wanted kind or compression profile, test on the drawn Fracture, section)
CASES = [
    ("wedge compression", "C5", lambda f: f.profile == "wedge", "sagittal"),
    ("biconcave compression", "C5", lambda f: f.profile == "biconcave", "sagittal"),
    ("crush compression", "C5", lambda f: f.profile == "crush", "sagittal"),
    ("crack through the body", "C6", lambda f: f.kind == "break" and np.isfinite(f.radius) and f.radius > 6, "sagittal"),
    ("crack through a pedicle", "C6", lambda f: f.kind == "break" and f.radius == 6.0, "axial"),
    ("teardrop fragment", "C6", lambda f: f.kind == "fragment", "sagittal"),
    ("dens (type II)", "C2", lambda f: f.kind == "dens", "sagittal"),
    ("C1 arch", "C1", lambda f: f.kind == "arch", "axial"),
]


def first_fracture(s, wanted, difficulty: float):
    """The first fracture drawn for ``s`` (seeds 0, 1, ...) for which ``wanted`` holds."""
    for seed in range(10000):
        f = fractures.sample_fracture(np.random.default_rng(seed), s, difficulty)
        if wanted(f):
            return f
    raise RuntimeError("no such fracture in 10000 draws")


def section(s, f, shape_fn, plane: str):
    """(bone, region) boolean images and their extent (mm) in the plane through the fracture."""
    if plane == "sagittal":
        a, b = np.arange(-25, 55, STEP), np.arange(-22, 30, STEP)  # v, w
        vv, ww = np.meshgrid(a, b, indexing="xy")
        uu = np.full_like(vv, float(f.point[0]) if f.kind in ("fragment", "dens") else 0.0)
    else:
        a, b = np.arange(-42, 42, STEP), np.arange(-20, 55, STEP)  # u, v
        uu, vv = np.meshgrid(a, b, indexing="xy")
        ww = np.full_like(uu, float(f.point[2]))
    r = fractures.render_vertebra(uu.astype(np.float32), vv.astype(np.float32), ww.astype(np.float32), s, f, shape_fn)
    return r.bone <= 0, r.region, (a[0], a[-1], b[0], b[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--difficulty", type=float, default=0.0)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = {r.name: r for r in REFERENCE}
    fig, axes = plt.subplots(2, len(CASES), figsize=(3.0 * len(CASES), 6.4), dpi=110)
    for j, (title, level, wanted, plane) in enumerate(CASES):
        for i, (name, s, fn) in enumerate((("procedural", shapes[level], anatomy.vertebra),
                                           ("mesh", mesh_shape(shapes[level]), mesh_vertebra_shape))):
            f = first_fracture(s, wanted, args.difficulty)
            f = fit_fracture(f, s) if name == "mesh" else f  # as the generator places it
            bone, region, extent = section(s, f, fn, plane)
            image = np.where(bone, 0.75, 0.0)
            rgb = np.stack([np.maximum(image, 0.9 * region), image * ~region, image * ~region], axis=-1)
            ax = axes[i, j]
            ax.imshow(rgb, origin="lower", extent=extent)
            ax.set_title(f"{level} {title}\n{name}, {plane}", fontsize=8)
            ax.set_xlabel("v: posterior (mm)" if plane == "sagittal" else "u: patient's left (mm)", fontsize=7)
            ax.set_ylabel("w: superior (mm)" if plane == "sagittal" else "v: posterior (mm)", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"Fracture kinds on procedural (top) and real-shape mesh (bottom) vertebrae, difficulty "
                 f"{args.difficulty:g}; red: fracture-region truth", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out)


if __name__ == "__main__":
    main()
