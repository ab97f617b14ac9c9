"""Anatomical checks on the levels a segmentation found: nothing invented.

Calling a piece of a thoracic vertebra, a rib or the aorta "C3" is the worst error this product can
make, worse than finding nothing. The networks were trained on neck phantoms only, and on real scans
without a cervical spine in the crop they leave specks: on the real VerSe CT (T10–L3, no cervical
vertebra) the shipped 0.3.0 segmentation found "C1, C2, C5, C6" of 0.02–0.08 ml each, on the real
chest CT "C1" and "C7" of 0.2 ml 120 mm apart, while every level of the validation phantoms was
7.6 ml or more and the real head-and-neck CT's C1–C5 11–16 ml. These checks keep only levels that
could be a cervical vertebra and sit where the column puts them; each one dropped is reported.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..constants import LEVELS, N_LEVELS
from .postprocess import _level_heights, close_level_gaps

log = logging.getLogger(__name__)

#: Smallest volume (ml) a found level may have. A whole adult cervical vertebra is 6–20 ml; the
#: specks on the real scans without a cervical spine were at most 0.22 ml. A level cut by the field
#: of view to less than this is dropped too: too little of it is in view to classify or measure.
MIN_LEVEL_ML = 1.0
#: A level at either end of the found column smaller than this (ml)...
MIN_END_LEVEL_ML = 2.0
#: ...with at least this share of its surface on the next level's voxels is dropped: vertebrae are
#: separated by discs and joints, so a level is carved out of its neighbour's bone piece. Cut neck
#: phantom 1240005 (C2-C6 in view): the level network called the bottom of C6's body at the scan's
#: lower edge "C7", 1.13 ml with 46 % of its surface on C6. Of the 67 other levels of the cut-neck
#: set 1240000-1240015 the largest share was 36 % (1240000's C5, 5.1 ml, whose piece C4 shares); on
#: the real head-and-neck CT 35 % (its undersized C5, 4.7 ml, its smallest level).
MAX_SHARED_SURFACE = 0.3
#: Centroid distance (mm) per level between two found levels: adjacent cervical centroids lie
#: 13–26 mm apart on the validation phantoms and 15–21 mm on the real head-and-neck CT.
STEP_MM = (8.0, 32.0)
#: Height (mm) of C7's centroid above the cervicothoracic junction the localizer sees: half a body
#: and half a disc. 9.2 mm on average (-6 to 14) on 26 development phantoms (seeds 1200000+:
#: neck, head and neck, chest, whole body).
C7_ABOVE_JUNCTION_MM = 10.0
#: Centroid distance (mm) per level where fewer than two levels were found to measure it on.
TYPICAL_STEP_MM = 17.0
#: The junction renumbers the levels only when it moves them by at least this many levels: its
#: own error reaches 16 mm (a level) on the development phantoms.
MIN_RENUMBER_LEVELS = 2
#: A count from the junction names a level only when its centroid lies within this many level
#: steps of the height the name asks: beyond it the junction's own error (up to a level) leaves
#: two names open. Chest phantoms (development seeds 1202000-1202007, 1717000-1717011) whose C7 the
#: count named right lay up to 0.37 steps off; chest phantom 1271002's C6, 0.47 steps above C7's
#: height, was named C7 (session 32).
MAX_JUNCTION_RESIDUAL_STEPS = 0.4
#: Head-to-feet centroid distance (mm) per level, at least, between two found levels: each level
#: lies below the one above it. Adjacent levels are 12.5 mm or more apart along z on 40 neck
#: phantoms (seeds 1210000+, posed at random) and 10.4 mm on the real head-and-neck CT (C4 and
#: its undersized C5); on development chest phantom 1202005 the level network's "C1" and "C2" were two
#: pieces of one vertebra, 10 mm apart front to back and 3 mm along z.
MIN_STEP_Z_MM = 5.0
#: Reach of the scan (mm) past a level's edge that puts a whole neighbouring vertebra in view (a
#: cervical vertebra with its disc is 15–20 mm tall).
NEIGHBOUR_ROOM_MM = 25.0


@dataclass
class LevelCheck:
    """What :func:`check_levels` kept and why it dropped the rest.

    Attributes:
        labels: uint8 label map (z, y, x) holding only the kept levels.
        dropped: level name -> reason, for each level removed.
    """

    labels: np.ndarray
    dropped: dict[str, str] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """One sentence per dropped level, for findings.json and the terminal."""
        return [f"a {level} candidate was discarded: {why}" for level, why in self.dropped.items()]


def check_levels(labels: np.ndarray, spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
                 min_ml: float = MIN_LEVEL_ML, step_mm: tuple[float, float] = STEP_MM) -> LevelCheck:
    """Drop found levels that cannot be a cervical vertebra where they are.

    First every level smaller than ``min_ml`` goes. Of the rest, the largest set that forms a
    column is kept: for every two consecutive kept levels a < b, their centroids lie between
    ``step_mm[0]·(b−a)`` and ``step_mm[1]·(b−a)`` mm apart, b's at least
    ``MIN_STEP_Z_MM·(b−a)`` below a's. Among sets of one size, the one with more adjacent levels
    wins (vertebrae are contiguous), then the larger total volume. Last, a level at either end
    of the column under :data:`MIN_END_LEVEL_ML` with :data:`MAX_SHARED_SURFACE` of its surface on
    the next level goes (a piece of that level's bone, the network's numbering running on at the
    scan's edge).

    Args:
        labels: uint8 label map (z, y, x), 1..7 = C1..C7, on an axis-aligned grid whose z runs to
            Superior.
        spacing_mm: voxel size (x, y, z) mm of ``labels``' grid (axis-aligned grid).
        min_ml: the volume floor (ml).
        step_mm: (smallest, largest) centroid distance per level (mm).

    Returns:
        The checked labels and the reasons for what was dropped.
    """
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    values = [v for v in range(1, N_LEVELS + 1) if np.any(labels == v)]
    if not values:
        return LevelCheck(labels.copy())
    counts = ndimage.sum_labels(np.ones(labels.shape, np.float32), labels, values)
    volume = {v: float(c) * voxel_ml for v, c in zip(values, counts)}
    dropped: dict[str, str] = {}
    for v in values:
        if volume[v] < min_ml:
            dropped[LEVELS[v - 1]] = f"{volume[v]:.2f} ml, too small for a vertebra (at least {min_ml:g} ml)"
    sized = [v for v in values if volume[v] >= min_ml]
    zyx_mm = np.asarray(spacing_mm[::-1], float)
    centre = {v: np.asarray(c) * zyx_mm for v, c in
              zip(sized, ndimage.center_of_mass(np.ones(labels.shape, np.float32), labels, sized))} if sized else {}
    kept = _largest_column(sized, centre, volume, step_mm)
    for end, neighbour in ((kept[0], kept[1]), (kept[-1], kept[-2])) if len(kept) > 1 else ():
        if end not in kept or volume[end] >= MIN_END_LEVEL_ML:
            continue
        shared = _shared_surface(labels, end, neighbour)
        if shared >= MAX_SHARED_SURFACE:
            kept.remove(end)
            dropped[LEVELS[end - 1]] = (f"{volume[end]:.2f} ml at the end of the column, {shared:.0%} of its surface on "
                                        f"{LEVELS[neighbour - 1]}'s bone: a piece of {LEVELS[neighbour - 1]}, or too "
                                        f"little of {LEVELS[end - 1]} to tell them apart")
    for v in sized:
        if v not in kept and LEVELS[v - 1] not in dropped:
            near = min((abs(k - v), k) for k in kept)[1] if kept else None
            where = (f"{np.linalg.norm(centre[v] - centre[near]):.0f} mm from {LEVELS[near - 1]} "
                     f"({(centre[near][0] - centre[v][0]) * np.sign(v - near):.0f} mm along the column), where "
                     f"{step_mm[0] * abs(near - v):.0f}–{step_mm[1] * abs(near - v):.0f} mm "
                     f"({MIN_STEP_Z_MM * abs(near - v):.0f} mm along it) fit the column"
                     if near is not None else "off the column")
            dropped[LEVELS[v - 1]] = f"it lies {where}"
    out = labels.copy()
    out[~np.isin(labels, kept)] = 0
    if dropped:
        log.info("levels dropped by the anatomical checks: %s", dropped)
    return LevelCheck(out, dropped)


def close_gaps_left_by_checks(labels: np.ndarray) -> Renumbering:
    """:func:`~.postprocess.close_level_gaps` again on the levels :func:`check_levels` kept.

    A level the checks drop can open a gap the post-processing never saw: on cut neck phantom
    1262007 (C2–C6 in view, C3 and C4 half outlined) the level network's "C4" was a piece of C3
    1 mm below it along the column, dropped, and C4 below was called "C5", one level step under C3.

    Args:
        labels: uint8 label map (z, y, x), z running to Superior, as :func:`check_levels` returns it.

    Returns:
        The renumbered labels, the shift of the lowest level, and a note naming the change.
    """
    closed = close_level_gaps(labels)
    before = [int(v) for v in np.unique(labels) if v]
    after = [int(v) for v in np.unique(closed) if v]
    if before == after:
        return Renumbering(labels)
    moved = [(LEVELS[b - 1], LEVELS[a - 1]) for b, a in zip(before, after) if a != b]
    note = ("with the levels above discarded, no vertebra fits between the levels kept: the level network's "
            f"{', '.join(b for b, _ in moved)} {'is' if len(moved) == 1 else 'are'} {', '.join(a for _, a in moved)}")
    log.info(note)
    return Renumbering(closed, after[-1] - before[-1], [note])


def _shared_surface(labels: np.ndarray, level: int, neighbour: int) -> float:
    """Share of ``level``'s surface voxels that touch ``neighbour`` (6-connected)."""
    mask = labels == level
    cross = ndimage.generate_binary_structure(3, 1)
    # border_value=1: where the grid cuts the bone is not a surface of it.
    surface = mask & ~ndimage.binary_erosion(mask, cross, border_value=1)
    touching = surface & ndimage.binary_dilation(labels == neighbour, cross)
    return float(touching.sum()) / max(1, int(surface.sum()))


def _largest_column(values: list[int], centre: dict[int, np.ndarray], volume: dict[int, float],
                    step_mm: tuple[float, float]) -> list[int]:
    """The largest subset of ``values`` whose consecutive members are a plausible distance apart.

    At most seven levels: all 127 subsets are tried, which is clearer than a search and instant.
    """
    def fits(a: int, b: int) -> bool:
        d = float(np.linalg.norm(centre[a] - centre[b]))
        below = float(centre[a][0] - centre[b][0])
        return step_mm[0] * (b - a) <= d <= step_mm[1] * (b - a) and below >= MIN_STEP_Z_MM * (b - a)

    best: tuple[int, int, float, list[int]] = (0, 0, 0.0, [])
    for n in range(len(values), 0, -1):
        for subset in itertools.combinations(values, n):
            if all(fits(a, b) for a, b in zip(subset, subset[1:])):
                adjacent = sum(b - a == 1 for a, b in zip(subset, subset[1:]))
                score = (n, adjacent, sum(volume[v] for v in subset))
                if score > best[:3]:
                    best = (*score, list(subset))
        if best[3]:
            break
    return best[3]


def drop_lone_level(labels: np.ndarray, room_mm: tuple[float, float], spacing_z_mm: float,
                    min_room_mm: float = NEIGHBOUR_ROOM_MM) -> LevelCheck:
    """Drop a level found alone although the scan has room for a neighbour of it.

    A cervical vertebra never comes alone: where the scan reaches ``min_room_mm`` past a level
    towards a neighbour it has (C(n−1) above, C(n+1) below), that neighbour is in view, and a
    segmentation that finds only the one level has most likely named another bone. Held-out
    phantoms (localizer_eval, seeds 961000–966002): a "C2" on the top vertebra of a chest CT and
    a "C3" on a head CT's skull base, each alone. A lone C7 at the top edge of a chest CT, or a
    lone C1 at the bottom edge of a head CT, is kept.

    Args:
        labels: uint8 label map (z, y, x) on an axis-aligned grid whose z runs to Superior.
        room_mm: how far (mm) the scanned field of view reaches above the grid's top slice and
            below its bottom slice (``(above, below)``; negative where the grid, padded, reaches
            past the scan: ``preprocess.geometry.scan_reach_mm``).
        spacing_z_mm: the grid's slice spacing (mm).
        min_room_mm: the reach past the level that puts a whole neighbour in view.

    Returns:
        The labels (cleared when the lone level goes) and the reason.
    """
    values = [v for v in range(1, N_LEVELS + 1) if np.any(labels == v)]
    if len(values) != 1:
        return LevelCheck(labels)
    v = values[0]
    z = np.nonzero(np.any(labels == v, axis=(1, 2)))[0]
    above = (labels.shape[0] - 1 - z.max()) * spacing_z_mm + room_mm[0]
    below = z.min() * spacing_z_mm + room_mm[1]
    sides = ([f"{LEVELS[v - 2]} above ({above:.0f} mm of scan)"] if v > 1 and above >= min_room_mm else []) + \
            ([f"{LEVELS[v]} below ({below:.0f} mm of scan)"] if v < N_LEVELS and below >= min_room_mm else [])
    if not sides:
        return LevelCheck(labels)
    why = f"it was found alone, yet the scan has room for {' and '.join(sides)}: likely another bone"
    log.info("lone level %s dropped: %s", LEVELS[v - 1], why)
    return LevelCheck(np.zeros_like(labels), {LEVELS[v - 1]: why})


@dataclass
class Renumbering:
    """What :func:`anchor_at_junction` did.

    Attributes:
        labels: uint8 label map (z, y, x), renumbered or as given.
        shift: levels added to every label (0: unchanged).
        notes: sentences for the reader when the junction disagreed with the numbering.
    """

    labels: np.ndarray
    shift: int = 0
    notes: list[str] = field(default_factory=list)


def anchor_at_junction(labels: np.ndarray, z0_mm: float, spacing_z_mm: float, junction_z_mm: float | None,
                       step_mm: tuple[float, float] = STEP_MM) -> Renumbering:
    """Number the levels up from the cervicothoracic junction where the numbering contradicts it.

    The level network numbers the vertebrae of its crop, and on chest CTs whose top holds C5–C7
    it called them from C1 down (chest phantom 981001: C5–C7 as "C1–C3"; development phantoms
    1202002–1202006: C7 as "C1", C6–T1 as "C1–C3"): with no skull in view, it counted from the top
    of what it saw. Radiologists count such a scan up from T1. The lowest level found above the
    junction should lie ``C7_ABOVE_JUNCTION_MM`` above it plus one level step per level above
    C7 (it is C7 at the most); where that number exceeds its label by
    :data:`MIN_RENUMBER_LEVELS` or more, every level moves down by the difference (their order
    and spacing are the segmentation's), and those the move takes past C7 are dropped: they lie
    below the junction. Where the count falls between two levels (more than
    :data:`MAX_JUNCTION_RESIDUAL_STEPS` steps off the height of the name it gives), every level
    is discarded instead: the numbering is known wrong and the right one is not known. A
    junction that would move the levels up changes nothing (the log says so): on the phantoms it
    is the localizer's junction, not the network's numbering, that errs that way.

    Args:
        labels: uint8 label map (z, y, x), 1..7 = C1..C7, on an axis-aligned grid whose z runs
            to Superior.
        z0_mm: LPS z (mm) of the grid's first slice.
        spacing_z_mm: the grid's slice spacing (mm).
        junction_z_mm: LPS z (mm) of the junction (:attr:`~.localizer.Localization.junction_z_mm`),
            or None when the scan does not show it.
        step_mm: (smallest, largest) plausible centroid distance per level (mm).

    Returns:
        The labels, the shift applied and what was said.
    """
    values, heights = _level_heights(labels, 1)
    if junction_z_mm is None or not values:
        return Renumbering(labels)
    z_mm = {v: z0_mm + spacing_z_mm * float(h) for v, h in zip(values, heights)}
    above = [v for v in values if z_mm[v] > junction_z_mm]
    if not above:
        return Renumbering(labels)
    steps = [(z_mm[a] - z_mm[b]) / (b - a) for a, b in zip(values, values[1:])]
    step = float(np.clip(np.median(steps), *step_mm)) if steps else TYPICAL_STEP_MM
    anchor = above[-1]
    gap = z_mm[anchor] - junction_z_mm
    expected = min(N_LEVELS, N_LEVELS - int(round((gap - C7_ABOVE_JUNCTION_MM) / step)))
    shift = expected - anchor
    if shift < 0:
        # Only logged. The network's failure is naming from the top of what it sees (names too
        # small); a junction found too low is the localizer's (whole-body phantoms 1203003 and
        # 1234003: one and two levels low under a right C1-C7), and a warning that changes
        # nothing would only make the reader doubt a right numbering.
        log.info("the cervicothoracic junction seen %.0f mm below %s would number the levels %d lower; kept",
                 gap, LEVELS[anchor - 1], -shift)
        return Renumbering(labels)
    if shift < MIN_RENUMBER_LEVELS:
        return Renumbering(labels)
    # Levels above the height the name asks (the count rounded down) or below it (rounded up;
    # nothing lies below C7's height above the junction but T1, which lies below the junction).
    residual = (gap - C7_ABOVE_JUNCTION_MM) / step - (N_LEVELS - expected)
    if residual > MAX_JUNCTION_RESIDUAL_STEPS or (expected < N_LEVELS and residual < -MAX_JUNCTION_RESIDUAL_STEPS):
        # The network's numbering is wrong (the junction says so) and the junction cannot say
        # which name is right: a level named wrong is worse than none.
        found = ", ".join(LEVELS[v - 1] for v in values)
        were, they = ("were", "they are") if len(values) > 1 else ("was", "it is")
        note = (f"the level network's {found} {were} discarded: the cervicothoracic junction seen {gap:.0f} mm below "
                f"the lowest says {they} numbered wrong, but lies between two levels' heights")
        log.info(note)
        return Renumbering(np.zeros_like(labels), 0, [note])
    kept = [v for v in values if v + shift <= N_LEVELS]
    out = np.zeros_like(labels)
    for v in kept:
        out[labels == v] = v + shift
    notes = [f"levels counted up from the cervicothoracic junction seen {gap:.0f} mm below the lowest: the level "
             f"network's {', '.join(LEVELS[v - 1] for v in kept)} are {', '.join(LEVELS[v + shift - 1] for v in kept)}"]
    notes += [f"the level network's {LEVELS[v - 1]} was discarded: it lies below the cervicothoracic junction"
              for v in values if v not in kept]
    log.info("; ".join(notes))
    return Renumbering(out, shift, notes)


def name_cut_top_level_from_below(labels: np.ndarray, room_mm: tuple[float, float], spacing_z_mm: float,
                                  edge_mm: float = 2.0) -> Renumbering:
    """Name the top level from the one below it where the scan's top edge cuts it and the gap fits fewer levels.

    :func:`~.postprocess.close_level_gaps` trusts the top of the column (C1 and C2 are the most
    distinctive levels) and renumbers the levels below a gap no vertebra fits in. A level cut by
    the scan's top edge is the exception: the level network names the top vertebra of a neck scan
    cut below C1 "C1" (fresh arterial neck phantom 1235002: C2 called "C1" 21 mm above a right C3,
    whose neighbours lie 18–20 mm apart; C2's 0.21 ml speck, dropped by :func:`check_levels`, had
    hidden the gap from the post-processing). There the levels below are trusted instead.

    Args:
        labels: uint8 label map (z, y, x), 1..7 = C1..C7, on an axis-aligned grid whose z runs
            to Superior.
        room_mm: the scan's reach above and below the grid (``preprocess.geometry.scan_reach_mm``).
        spacing_z_mm: the grid's slice spacing (mm).
        edge_mm: a level whose top lies this close to the scan's top is cut by it.

    Returns:
        The labels, the shift of the top level (0: unchanged) and a note.
    """
    values, heights = _level_heights(labels, 1)
    if len(values) < 3:
        return Renumbering(labels)
    z = [float(h) * spacing_z_mm for h in heights]
    top, below = values[0], values[1]
    top_slice = int(np.nonzero(np.any(labels == top, axis=(1, 2)))[0].max())
    scan_top = (labels.shape[0] - 1) * spacing_z_mm + min(room_mm[0], 0.0)
    adjacent = [z[i] - z[i + 1] for i in range(1, len(values) - 1) if values[i + 1] - values[i] == 1]
    if top_slice * spacing_z_mm < scan_top - edge_mm or not adjacent:
        return Renumbering(labels)
    fits = max(1, int(round((z[0] - z[1]) / float(np.median(adjacent)))))
    if below - top <= fits:
        return Renumbering(labels)
    name = below - fits
    note = (f"the level network's {LEVELS[top - 1]} is {LEVELS[name - 1]}: the scan's top edge cuts it, and "
            f"{LEVELS[below - 1]} lies {z[0] - z[1]:.0f} mm below it, {fits} level step{'s' if fits > 1 else ''}")
    log.info(note)
    return Renumbering(np.where(labels == top, np.uint8(name), labels).astype(labels.dtype), name - top, [note])


__all__ = ["C7_ABOVE_JUNCTION_MM", "LevelCheck", "MAX_JUNCTION_RESIDUAL_STEPS", "MAX_SHARED_SURFACE", "MIN_END_LEVEL_ML", "MIN_LEVEL_ML", "MIN_RENUMBER_LEVELS", "MIN_STEP_Z_MM", "NEIGHBOUR_ROOM_MM",
           "Renumbering", "STEP_MM", "TYPICAL_STEP_MM", "anchor_at_junction", "check_levels", "close_gaps_left_by_checks", "drop_lone_level",
           "name_cut_top_level_from_below"]
