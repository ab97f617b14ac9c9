"""``make_phantom``: a synthetic cervical-spine CT with C1–C7 labels, fractures and their truth.

Deterministic for a given seed and config. See anatomy.py for the shapes, fractures.py for the
fractures, layout.py for the column and pose, tissues.py and realism.py for the CT look.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ...constants import HU_AIR, HU_MAX
from ...volume import CTVolume
from ...preprocess.geometry import block_mean
from ..case import LEVELS, LabelledCase
from . import dental, fov, fracture_view, fractures, mesh_anatomy, mesh_fractures, realism, texture
from .builders import build_objects
from .layout import lay_out_column, sample_pose
from .render import BoneHU, Canvas
from .threads import phantom_threads
from .tissues import sample_soft_tissue, soft_tissue_hu
from .truth import level_truth
from .trunk_bones import aorta, neck_arteries, trunk_bones
from .trunk_column import extend_column
from .trunk_tissue import CONTRAST_PHASES, sample_trunk, trunk_hu

log = logging.getLogger(__name__)

#: 1.1 added the chest, abdomen, head and whole-body fields of view and contrast phases; 1.2 the
#: head-and-neck field of view, teeth and metal dental work. A neck phantom without contrast or
#: teeth is the same, byte for byte, as in 1.0. The head-and-upper-neck kind (session 30) is new and
#: changes no other kind's bytes, so the version (which keys every cache) stays. 1.3 (session 47)
#: leaves out a fracture the scan would show less than half of (:mod:`.fracture_view`): the phantoms
#: that had one change; every other phantom keeps its bytes.
GENERATOR_VERSION = "1.3"
#: Version of the real-shape (``anatomy="mesh"``) vertebrae, in the cache tag of mesh phantoms only:
#: 2 (session 46) keeps a joint space between neighbouring vertebrae (1 let the scaled templates
#: touch and overlap at the facet and uncovertebral joints). Procedural phantoms keep their bytes.
MESH_ANATOMY_VERSION = "2"
#: Vertebra shapes: the procedural ones, or C1–C7 from real-shape mesh templates.
ANATOMY_KINDS = ("procedural", "mesh")
#: Slice spacings (mm) of clinical neck CT protocols.
CLINICAL_SLICE_MM = (0.5, 0.625, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
#: Fields of view whose phantoms have teeth unless ``PhantomConfig.teeth`` says otherwise.
DENTAL_FOVS = ("head", "head-neck", "whole-body", "head-upper-neck")
#: Largest matrix drawn when the size is not given (keeps a random phantom within memory).
MAX_IN_PLANE, MAX_SLICES = 320, 320


@dataclass
class PhantomConfig:
    """Options of :func:`make_phantom` (None = drawn at random per phantom).

    Attributes:
        size_xyz: voxels along (x, y, z); None draws a field of view like a clinical neck CT.
        spacing: voxel size (x, y, z) mm; None draws 0.3–0.9 mm in-plane, 0.5–3 mm slices.
        fracture_rate: probability that the patient has at least one fractured level.
        difficulty: 0 obvious .. 1 subtle fractures (gap width, displacement, Genant grade).
        noise_hu: noise standard deviation; None draws 10–40 HU.
        streak_probability: probability of beam-hardening streaks.
        cut_probability: probability, at each end, that the field of view leaves out C1 or C7.
        psf_fwhm_mm: scanner point-spread function (full width at half maximum, mm).
        pose: random head/neck rotation and translation in the scanner.
        direction: 3×3 direction of the CT grid (columns = i, j, k axes in LPS); identity if None.
        fov: field-of-view kind (:data:`~.fov.FOV_KINDS`): ``neck`` (default), ``head-neck``,
            ``chest``, ``abdomen``, ``head``, ``whole-body`` or ``head-upper-neck``. A neck phantom
            is the same, byte for byte, as before the other kinds existed.
        contrast: ``none``, ``arterial`` or ``venous`` (aorta, heart, organs, and the carotid
            and vertebral arteries).
        teeth: draw the dental arches (teeth, maxilla, and in about two patients of three metal
            fillings with their streaks); None: where the face is in view (``head``,
            ``head-neck``, ``whole-body``), not in a ``neck`` phantom (which keeps its 1.0 bytes).
        anatomy: ``procedural`` (the shipped models' training data) or ``mesh``: C1–C7 drawn
            from real-shape templates (:mod:`~.mesh_anatomy`); same random draws, other bones.
        texture: give cancellous bone a trabecular mottle (:mod:`~.texture`, its own random
            stream: the rest of the phantom is the same as without it).
        antialias: draw on sub-voxels of at most 0.7 mm and average them into each voxel, as a
            scanner integrates over its voxel. Without it a coarse grid (e.g. 3 mm) samples a 1 mm
            cortex at voxel centres only, which beads it (hit or missed) where real CT smooths it.
            Off by default: the phantoms of the 1.x figures keep their bytes.
        cancellous_hu: range (HU) a patient's cancellous bone is drawn from (every bone of the
            patient; each level jittered by σ 12 HU). The default 170–380 HU is what the shipped
            models were trained on; real cervical cancellous bone reaches from under 100 HU
            (osteoporosis) to over 400 HU (young, dense bone). The same uniform draw is scaled,
            so a phantom with another range differs only in its bone.
    """

    size_xyz: tuple[int, int, int] | None = None
    spacing: tuple[float, float, float] | None = None
    fracture_rate: float = 0.5
    difficulty: float | None = None
    noise_hu: float | None = None
    streak_probability: float = 0.25
    cut_probability: float = 0.15
    psf_fwhm_mm: float = 0.7
    pose: bool = True
    direction: np.ndarray | None = field(default=None, repr=False)
    fov: str = "neck"
    contrast: str = "none"
    teeth: bool | None = None
    anatomy: str = "procedural"
    texture: bool = False
    antialias: bool = False
    cancellous_hu: tuple[float, float] = (170.0, 380.0)

    def __post_init__(self) -> None:
        if self.fov not in fov.FOV_KINDS:
            raise ValueError(f"fov must be one of {fov.FOV_KINDS}, got {self.fov!r}")
        if self.anatomy not in ANATOMY_KINDS:
            raise ValueError(f"anatomy must be one of {ANATOMY_KINDS}, got {self.anatomy!r}")
        if self.contrast not in CONTRAST_PHASES:
            raise ValueError(f"contrast must be one of {CONTRAST_PHASES}, got {self.contrast!r}")
        for name in ("fracture_rate", "streak_probability", "cut_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.difficulty is not None and not 0.0 <= self.difficulty <= 1.0:
            raise ValueError(f"difficulty must be in [0, 1], got {self.difficulty}")
        if self.size_xyz is not None and (len(self.size_xyz) != 3 or min(self.size_xyz) < 8):
            raise ValueError(f"size_xyz needs three sizes of at least 8 voxels, got {self.size_xyz}")
        if self.spacing is not None and (len(self.spacing) != 3 or min(self.spacing) <= 0):
            raise ValueError(f"spacing needs three positive values, got {self.spacing}")
        if self.noise_hu is not None and self.noise_hu < 0:
            raise ValueError("noise_hu must be >= 0")
        hu = tuple(float(v) for v in self.cancellous_hu)  # a JSON list becomes the tuple the cache tag expects
        if len(hu) != 2 or not 0.0 <= hu[0] <= hu[1] < 900.0:
            raise ValueError(f"cancellous_hu must be a range (low, high) within 0..900 HU (below cortex), "
                             f"got {self.cancellous_hu}")
        self.cancellous_hu = hu


def make_phantom(seed: int, config: PhantomConfig | None = None) -> LabelledCase:
    """Generate one phantom.

    Args:
        seed: random seed; the same seed and config give identical arrays.
        config: options; defaults draw everything at random.

    Returns:
        A LabelledCase: ``ct`` (HU, (z, y, x) float32), ``labels`` (uint8: 1..7 = C1..C7,
        8..19 = T1..T12, 20..22 = L1..L3 as far as the field of view reaches), ``fracture`` (uint8 0/1) and ``truth`` (per level: present, fractured,
        kind, genant_grade, heights_mm, keypoints_lps_mm, centroid_lps_mm, cancellous_hu, and
        partly_in_view: the centre outside the scan but some bone in it, drawn in the CT and 0 in
        the labels); ``truth["fractures_out_of_view"]`` lists the levels whose fracture was drawn
        from the random stream but left out, the scan holding less than half of its region).
    """
    config = config or PhantomConfig()
    plan = _draw_plan(seed, config)
    rng, rng_scanner, rng_trunk = plan.rng, plan.rng_scanner, plan.rng_trunk
    column, tissue, bone_hu = plan.column, plan.tissue, plan.bone_hu
    difficulty, noise_hu, pose, translation = plan.difficulty, plan.noise_hu, plan.pose, plan.translation
    in_trunk, trunk, grid, present = plan.in_trunk, plan.trunk, plan.grid, plan.present
    breaks, objects, out_of_view = plan.breaks, plan.objects, plan.out_of_view

    factors = realism.subvoxel_factors(grid.spacing) if config.antialias else (1, 1, 1)
    coarse = factors != (1, 1, 1)
    canvas = Canvas(realism.subvoxel_grid(grid, factors) if coarse else grid, pose, translation)
    threads = phantom_threads()
    if in_trunk:
        canvas.fill_soft_tissue(lambda x, y, z: trunk_hu(x, y, z, column, tissue, trunk), threads)
    else:
        canvas.fill_soft_tissue(lambda x, y, z: soft_tissue_hu(x, y, z, column, tissue), threads)
    if in_trunk:
        objects += trunk_bones(column, tissue, trunk) + aorta(column, trunk, tissue)
    if config.contrast != "none":
        objects += neck_arteries(column, tissue, trunk.organ_hu["blood"])
    cancellous = {}
    # A fifth stream (the first four are the same children of the seed with or without it).
    mottle = (texture.sample_texture(np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[4]))
              if config.texture else None)
    hus = []
    for obj in objects:
        level_jitter = float(rng.normal(0.0, 12.0))  # drawn for every bone: independent of fractures
        hus.append(BoneHU(bone_hu.cortical, bone_hu.cancellous + level_jitter, bone_hu.cortex_mm))
        if 1 <= obj.label <= len(LEVELS):
            cancellous[LEVELS[obj.label - 1]] = bone_hu.cancellous + level_jitter
    canvas.draw_all(objects, hus, mottle, threads)
    teeth = config.fov in DENTAL_FOVS if config.teeth is None else config.teeth
    dentition = dental.sample_dentition(rng_trunk) if teeth else None
    metal = None
    if dentition is not None:
        tooth_bones, metal_work = dental.dental_objects(column, dentition)
        canvas.draw_all(tooth_bones + metal_work, [dental.TOOTH_HU] * len(tooth_bones)
                        + [dental.METAL_HU] * len(metal_work), threads=threads)
        metal = canvas.hu >= dental.METAL_THRESHOLD_HU
    # Sub-voxels back to the scanner's voxels: labels and masks from the one nearest the centre.
    labels, fracture_mask, is_bone = ((realism.block_centre(a, factors) for a in (canvas.labels, canvas.fracture,
                                                                                  canvas.is_bone))
                                      if coarse else (canvas.labels, canvas.fracture, canvas.is_bone))
    if coarse and metal is not None:
        metal = realism.block_centre(metal, factors)
    partly_in_view = []
    for lv in LEVELS:  # a level whose centre is outside the field of view counts as absent
        if lv not in present:
            drawn = labels == LEVELS.index(lv) + 1
            if drawn.any():  # its bone stays in the CT: the truth says so (reporting it invents nothing)
                partly_in_view.append(lv)
                labels[drawn] = 0

    hu = realism.blur(canvas.hu, canvas.grid.spacing, config.psf_fwhm_mm, threads)
    if coarse:
        hu = block_mean(hu, factors)
    if metal is not None and metal.any():
        dental.add_metal_streaks(hu, rng_trunk, metal, grid.spacing, float(rng_trunk.uniform(300.0, 900.0)))
    if rng_scanner.random() < config.streak_probability:
        realism.add_streaks(hu, rng_scanner, is_bone, n_slices=int(rng_scanner.integers(3, 12)))
    realism.add_noise(hu, rng_scanner, noise_hu, threads)
    np.clip(hu, HU_AIR, HU_MAX, out=hu)

    ct = grid.with_array(hu, series_description="SpineFracture phantom", source=f"phantom seed {seed}")
    # One pass for every level's box (an absent level: an empty one), not one pass per level.
    boxes = [box or (slice(0, 0),) * 3 for box in ndimage.find_objects(labels, max_label=len(LEVELS))]
    truth = {
        "generator_version": GENERATOR_VERSION,
        **({"mesh_anatomy_version": MESH_ANATOMY_VERSION} if config.anatomy == "mesh" else {}),
        "seed": int(seed),
        "difficulty": round(difficulty, 4),
        "noise_hu": round(noise_hu, 2),
        "field_of_view": config.fov,
        "contrast": config.contrast,
        "teeth": bool(teeth),
        "metal_teeth": 0 if dentition is None else len(dentition.metal),
        "patient_fractured": bool(breaks),
        "fractures_out_of_view": out_of_view,
        "levels": {
            lv: level_truth(lv, column, breaks.get(lv), lv in present, pose, translation, ct, labels,
                            cancellous.get(lv), mesh_anatomy.mesh_vertebra_shape if config.anatomy == "mesh" else None,
                            boxes[LEVELS.index(lv)])
            for lv in LEVELS
        },
    }
    for lv in LEVELS:
        truth["levels"][lv]["partly_in_view"] = lv in partly_in_view
    log.debug("phantom seed %d: %s voxels, fractured %s, left out of view %s", seed, ct.shape_xyz, sorted(breaks), out_of_view)
    return LabelledCase(f"phantom-{seed}", ct, grid.with_array(labels),
                        grid.with_array(fracture_mask), truth)


@dataclass
class _Plan:
    """What :func:`make_phantom` draws before rendering: the anatomy, the scan and the fractures.

    The random streams are handed on in the state the drawing left them, so that rendering draws
    the same numbers as before the split (same seed, same bytes).
    """

    rng: np.random.Generator
    rng_scanner: np.random.Generator
    rng_trunk: np.random.Generator
    column: object
    tissue: object
    bone_hu: BoneHU
    difficulty: float
    noise_hu: float
    pose: np.ndarray
    translation: np.ndarray
    in_trunk: bool
    trunk: object
    grid: CTVolume
    present: list[str]
    breaks: dict
    objects: list
    out_of_view: list[str]


def _draw_plan(seed: int, config: PhantomConfig) -> _Plan:
    # Independent streams, so that changing the fractures (e.g. fracture_rate 0 vs 1) leaves
    # the anatomy, the field of view and the noise of the same seed untouched.
    # The fourth stream draws what only the newer fields of view and contrast use, so that a
    # neck phantom without contrast keeps its bytes.
    rng, rng_fracture, rng_scanner, rng_trunk = (np.random.default_rng(s)
                                                 for s in np.random.SeedSequence(seed).spawn(4))
    size = float(rng.uniform(0.9, 1.1))
    column = lay_out_column(rng, size, _real_body if config.anatomy == "mesh" else None)
    tissue = sample_soft_tissue(rng, size)
    bone_hu = BoneHU(cortical=float(rng.uniform(900, 1400)), cancellous=float(rng.uniform(*config.cancellous_hu)),
                     cortex_mm=float(rng.uniform(0.8, 1.3)))
    disc_hu = float(rng.uniform(60, 120))
    difficulty = float(rng.uniform(0, 1)) if config.difficulty is None else config.difficulty
    noise_hu = float(rng.uniform(10, 40)) if config.noise_hu is None else config.noise_hu

    pose = sample_pose(rng, config.pose)
    mid = column.frames["C4"].centre
    jitter = rng.uniform(-10, 10, 3) * (1.0 if config.pose else 0.0)
    translation = jitter - pose @ mid  # scanner LPS = pose @ anatomical + translation
    in_trunk = config.fov in fov.TRUNK_FOVS
    trunk = sample_trunk(rng_trunk, tissue, config.contrast)
    if in_trunk:
        column = extend_column(rng_trunk, column, size)
        pose = fov.trunk_pose(rng_trunk, config.pose)
        shift = rng_trunk.uniform(-10, 10, 3) * (1.0 if config.pose else 0.0)
        translation = shift - pose @ column.frames["T8"].centre
    world = {n: pose @ f.centre + translation for n, f in column.frames.items()}
    grid = _grid(rng, config, world) if config.fov == "neck" else _other_grid(rng_trunk, config, world)

    present = [lv for lv in LEVELS if _inside(grid, world[lv])]
    broken = fractures.sample_fractured_levels(rng_fracture, present, config.fracture_rate)
    breaks = {lv: fractures.sample_fracture(rng_fracture, column.shapes[lv], difficulty) for lv in broken}
    if config.anatomy == "mesh":  # posterior-element cracks onto the real shapes' arches and pedicles
        breaks = {lv: mesh_fractures.fit_fracture(f, column.shapes[lv]) for lv, f in breaks.items()}
    objects = build_objects(column, breaks, disc_hu, config.anatomy)
    # A fracture the scan would not show is not drawn: the truth would call a level fractured
    # whose image is that of an intact one (a scan cut through C2 below the dens fracture).
    out_of_view = fracture_view.fractures_out_of_view(objects, breaks, pose, translation, grid)
    if out_of_view:
        breaks = {lv: f for lv, f in breaks.items() if lv not in out_of_view}
        objects = build_objects(column, breaks, disc_hu, config.anatomy)

    return _Plan(rng, rng_scanner, rng_trunk, column, tissue, bone_hu, difficulty, noise_hu, pose,
                 translation, in_trunk, trunk, grid, present, breaks, objects, out_of_view)


def planned_fractures(seed: int, config: PhantomConfig | None = None) -> dict[str, str]:
    """The fractures :func:`make_phantom` would draw for this seed and config, without rendering.

    A dry run (the anatomy, the scan's field of view and the fractures, not the voxels): about a
    tenth of a phantom's time. Use it to pick seeds rich in a rare fracture kind (a dens fracture is
    about one phantom in twenty) for training or evaluation sets.

    Args:
        seed: random seed, as for :func:`make_phantom`.
        config: options, as for :func:`make_phantom`.

    Returns:
        {level name: fracture kind} of the fractures drawn in the scan (those left out of view not
        included), named as the truth's ``kind``: e.g. ``{"C2": "dens", "C3": "compression:wedge"}``.
    """
    plan = _draw_plan(seed, config or PhantomConfig())
    return {lv: f.label for lv, f in plan.breaks.items()}


def _real_body(s):
    return mesh_anatomy.mesh_shape(s) if s.name in LEVELS else s


def _grid(rng: np.random.Generator, config: PhantomConfig, world: dict[str, np.ndarray]) -> CTVolume:
    """The scanner grid: spacing, size and field of view (a zero-filled CTVolume)."""
    direction = np.eye(3) if config.direction is None else np.asarray(config.direction, float)
    if config.spacing is not None:
        spacing = np.asarray(config.spacing, float)
    else:
        spacing = np.array([0, 0, rng.choice(CLINICAL_SLICE_MM)], float)
        spacing[:2] = rng.uniform(0.3, 0.9)
    if config.size_xyz is not None:
        size = np.asarray(config.size_xyz, int)
        centre = (world["C1"] + world["T1"]) / 2
    else:
        # Field of view in the scanner frame: in-plane 140-200 mm; from above C1 (or, cut,
        # between C1 and C2) down to T1 (or, cut, between C6 and C7).
        fov_xy = rng.uniform(140.0, 200.0)
        if rng.random() < config.cut_probability:
            top = rng.uniform(world["C2"][2] + 6.0, world["C1"][2] - 2.0)
        else:
            top = world["C1"][2] + rng.uniform(20.0, 45.0)
        if rng.random() < config.cut_probability:
            bottom = rng.uniform(world["C7"][2] + 2.0, world["C6"][2] - 6.0)
        else:
            bottom = world["T1"][2] - rng.uniform(5.0, 25.0)
        extent = np.array([fov_xy, fov_xy, top - bottom])
        extent_ijk = np.abs(direction.T) @ extent  # the box's extent along each grid axis
        spacing = np.maximum(spacing, extent_ijk / np.array([MAX_IN_PLANE, MAX_IN_PLANE, MAX_SLICES]))
        size = np.maximum(np.round(extent_ijk / spacing), 8).astype(int)
        centre = np.array([0.0, 0.0, (top + bottom) / 2])
    origin = centre - direction @ ((size - 1) / 2 * spacing)
    return CTVolume(np.zeros(tuple(size[::-1]), np.float32), tuple(spacing), tuple(origin), direction,
                    modality="CT")


def _other_grid(rng: np.random.Generator, config: PhantomConfig, world: dict[str, np.ndarray]) -> CTVolume:
    """The scanner grid of a field of view other than the neck (:func:`.fov.extent`)."""
    e = fov.extent(config.fov, rng, world)
    direction = np.eye(3) if config.direction is None else np.asarray(config.direction, float)
    if config.spacing is not None:
        spacing = np.asarray(config.spacing, float)
    else:
        spacing = np.array([0, 0, rng.choice(e.slices_mm)], float)
        spacing[:2] = rng.uniform(*e.in_plane_mm)
    centre = np.array([*e.centre_xy, (e.top + e.bottom) / 2])
    if config.size_xyz is not None:
        size = np.asarray(config.size_xyz, int)
    else:
        extent_ijk = np.abs(direction.T) @ np.array([e.fov_xy, e.fov_xy, e.top - e.bottom])
        spacing = np.maximum(spacing, extent_ijk / np.array([MAX_IN_PLANE, MAX_IN_PLANE, MAX_SLICES]))
        size = np.maximum(np.round(extent_ijk / spacing), 8).astype(int)
    origin = centre - direction @ ((size - 1) / 2 * spacing)
    return CTVolume(np.zeros(tuple(size[::-1]), np.float32), tuple(spacing), tuple(origin), direction,
                    modality="CT")


def _inside(grid: CTVolume, lps: np.ndarray) -> bool:
    ijk = grid.lps_to_index(lps)
    return bool(np.all(ijk >= 0) and np.all(ijk <= np.asarray(grid.shape_xyz) - 1))


__all__ = ["GENERATOR_VERSION", "MESH_ANATOMY_VERSION", "PhantomConfig", "make_phantom", "planned_fractures"]
