"""Post-processing of C1..C7 label maps: levels voted per vertebra, one component per level, in order."""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from ..constants import N_LEVELS

log = logging.getLogger(__name__)
#: A level with at least this share of a vertebra piece's level votes is taken to be in the piece.
#: A piece with one such level takes it whole; a piece with several (vertebrae the 1 mm mask grew
#: together, e.g. C1 on C2) is split voxel by voxel among them only. Chosen on validation phantoms
#: 800000-800023 (0.03-0.10 gave the same Dice; 0.6 "dominant level" voting lost C1 into C2).
CANDIDATE_SHARE = 0.1
#: A piece voting mostly background is split between background and the levels holding at least
#: this share of all its votes (C7 grown onto a thoracic vertebra at the bottom of the scan), and
#: dropped when there is none. Validation phantoms 800000-800047: 0.1-0.3 gave the same result.
BACKGROUND_SPLIT_SHARE = 0.2
#: A piece voting mostly background whose levels together hold at least this share of its votes
#: is a cervical column grown onto the thoracic spine: it keeps every level the level-piece rule
#: keeps (:data:`CANDIDATE_SHARE`, :data:`MIN_CANDIDATE_VOXELS`), each under
#: :data:`BACKGROUND_SPLIT_SHARE` alone. The porotic-trained vertebra network (session 39's V1) grows
#: C3-C7 of porotic necks onto T1 and below: five levels of 5-11 % each, 47-50 % together
#: (phantoms 1783014, 1779007), and the single-level rule dropped the whole column. The thoracic
#: and lumbar spines of the real chest and VerSe CTs give 25-27 % in such a piece, and their
#: levels are not kept here: 0.4 leaves room on both sides.
COLUMN_SPLIT_SHARE = 0.4
#: A level that is the most probable class (background included) at this many of a piece's voxels
#: (1 ml on the 1 mm crop, the level checks' smallest vertebra) is in the piece too, whatever its
#: share: where the 1 mm mask grows five vertebrae into one piece, a whole vertebra holds under a
#: tenth of the votes. On the real head-and-neck CT, C5 held 7 % of such a piece's votes and won
#: 2.2 ml of it, was left out, and C4 and C6 took its body. Counting won voxels, not summed
#: probabilities, keeps a faint level spread thinly over a large piece (C7 there: 0 voxels won) out.
MIN_CANDIDATE_VOXELS = 1000
#: A voxel where the level network is this sure of background is background, whatever its piece
#: votes: the 1 mm mask can grow the whole column C1-T1 into one piece, and the vote would give T1
#: to C7 (held-out head-and-neck phantom 976001: 4587 T1 voxels labelled C7, C7 Dice 0.74 -> 0.92 with
#: this). T1 there is >= 0.999 in 99.8 % of its voxels, C1-C7 in 0.14 %; on the real head-and-neck CT
#: 3.7 % of the labelled voxels reach it, on the outlines and at the scan's lower edge.
CONFIDENT_BACKGROUND = 0.999
#: A piece of the vertebra mask that went wholly to one level and lies this close (voxels of the
#: 1 mm crop) to the level's largest component is the level's, not a stray vote: a displaced
#: fracture fragment (a dens broken off C2, a teardrop corner) or a part of C1's ring the mask
#: left apart. :func:`keep_largest_component` dropped them until session 48: on head-and-upper-neck
#: phantom 1866001 the displaced dens (823 voxels, 2.2 mm from C2's body) was background and C2's
#: mask ended 13 mm under the true C2 top. Validation phantoms 1749392-1749459 (secondary
#: components of at least 50 voxels): whole pieces of one level within 4 mm were 14 of 14 that
#: level's bone in truth (3 dens, 3 teardrop fragments, 6 parts of C1, 2 of C5/C6), the first
#: wrong one at 4.5 mm; the pieces split off a piece shared with other levels, or lying on a partly seen
#: vertebra at the scan's edge, are mostly other bone and stay dropped.
FRAGMENT_REACH_VOXELS = 4.0
#: ... and holds at most this share of the voxels of the level's largest component: a fragment is a
#: small part of a vertebra (the validation pieces above: 0.5-8 %; a dens is about a tenth of C2),
#: a neighbour's whole body is not. Held-out head-and-neck phantom 1711001 showed why: T1's body,
#: at the scan's lower edge, voted C7 and lay within 4 mm of C7 (2871 voxels, 36 % of C7's 7998),
#: and was kept as C7 until this bound (C7 Dice 0.82 -> 0.71).
MAX_FRAGMENT_SHARE = 0.2


def assign_levels(vertebra: np.ndarray, level_probs: np.ndarray) -> np.ndarray:
    """Label each connected piece of vertebra with the level its voxels vote for.

    The 1 mm vertebra mask gives the bone's outline; the level probabilities (from the coarse level
    network, up-sampled) say which vertebra it is. Voting per piece puts the level boundaries on the
    discs, where the mask separates, instead of wherever the coarse argmax happens to switch; a
    piece holding several levels (see :data:`CANDIDATE_SHARE` and :data:`MIN_CANDIDATE_VOXELS`) is
    split voxel by voxel among those levels only, so that a stray vote cannot start an eighth level
    in it. A piece whose voxels vote more for background than for all levels together (a thoracic
    vertebra, the skull base) is dropped, unless a level holds :data:`BACKGROUND_SPLIT_SHARE` of its
    votes, or the levels together hold :data:`COLUMN_SPLIT_SHARE`: then it is split voxel by voxel
    between background and the levels in it. Last, every voxel the level network calls
    background with :data:`CONFIDENT_BACKGROUND` certainty is background.

    Args:
        vertebra: bool mask (z, y, x).
        level_probs: float (8, z, y, x) probabilities of background, C1..C7 on the same grid.

    Returns:
        uint8 labels (z, y, x), 0 background, 1..7 C1..C7.
    """
    if level_probs.shape[1:] != vertebra.shape or level_probs.shape[0] != N_LEVELS + 1:
        raise ValueError(f"level_probs {level_probs.shape} do not fit the mask {vertebra.shape}")
    pieces, n = ndimage.label(vertebra, structure=np.ones((3, 3, 3), bool))
    out = np.zeros(vertebra.shape, np.uint8)
    for i, box in enumerate(ndimage.find_objects(pieces), start=1):
        if box is None:
            continue
        mask = pieces[box] == i
        probs = level_probs[(slice(None), *box)][:, mask]  # (8, voxels of the piece)
        votes = probs.sum(axis=1)
        won = np.bincount(probs.argmax(axis=0), minlength=N_LEVELS + 1)[1:]
        present = (votes[1:] >= CANDIDATE_SHARE * votes[1:].sum()) | (won >= MIN_CANDIDATE_VOXELS)
        if votes[0] >= votes[1:].sum():
            keep = votes[1:] >= BACKGROUND_SPLIT_SHARE * votes.sum()
            if votes[1:].sum() >= COLUMN_SPLIT_SHARE * votes.sum():
                keep |= present
            if keep.any():
                keep = np.concatenate([[True], keep])
                out[box][mask] = np.where(keep[:, None], probs, -1.0).argmax(axis=0)
            continue
        if present.sum() == 1:
            out[box][mask] = int(np.argmax(votes[1:])) + 1
        else:
            out[box][mask] = np.where(present[:, None], probs[1:], -1.0).argmax(axis=0) + 1
    out[level_probs[0] >= CONFIDENT_BACKGROUND] = 0
    log.debug("levels voted over %d vertebra pieces", n)
    return out


def keep_largest_component(labels: np.ndarray, vertebra: np.ndarray | None = None,
                           reach_voxels: float = FRAGMENT_REACH_VOXELS) -> np.ndarray:
    """Keep the largest 26-connected component of each level 1..7, and the level's own fragments.

    A level's other components are stray votes (a sliver of a neighbour, a partly seen vertebra at
    the scan's edge) and are dropped, except, when ``vertebra`` is given, a **fragment**: a piece
    of the vertebra mask that went wholly to this level (no other level in it), lies within
    ``reach_voxels`` of the level's largest component and is at most :data:`MAX_FRAGMENT_SHARE` of
    its size (see :data:`FRAGMENT_REACH_VOXELS`).

    Args:
        labels: uint8 label map (z, y, x).
        vertebra: the bool vertebra mask (z, y, x) the labels were voted on, or None to keep the
            largest component only.
        reach_voxels: largest distance (voxels) from a fragment to its level's largest component.

    Returns:
        A new uint8 label map; stray pieces set to 0.
    """
    out = np.zeros_like(labels, dtype=np.uint8)
    structure = np.ones((3, 3, 3), bool)
    whole = None
    if vertebra is not None:
        if vertebra.shape != labels.shape:
            raise ValueError(f"vertebra mask {vertebra.shape} does not fit the labels {labels.shape}")
        pieces, n_pieces = ndimage.label(vertebra, structure=structure)
        # levels per vertebra piece: a piece is one level's alone when no other level got a voxel of it
        counts = np.bincount(pieces.ravel().astype(np.int64) * (N_LEVELS + 1) + labels.ravel(),
                             minlength=(n_pieces + 1) * (N_LEVELS + 1)).reshape(n_pieces + 1, N_LEVELS + 1)
        whole = (pieces, (counts[:, 1:] > 0).sum(axis=1) == 1)
    for value in range(1, N_LEVELS + 1):
        mask = labels == value
        if not mask.any():
            continue
        comp, n = ndimage.label(mask, structure=structure)
        if n > 1:
            sizes = np.bincount(comp.ravel())[1:]
            largest = int(np.argmax(sizes)) + 1
            keep = comp == largest
            if whole is not None:
                main = keep.copy()
                main_pieces = np.unique(whole[0][main])
                for i, box in enumerate(ndimage.find_objects(comp), start=1):
                    if i != largest and sizes[i - 1] <= MAX_FRAGMENT_SHARE * sizes[largest - 1] \
                            and _is_fragment(comp, i, box, main, main_pieces, whole, reach_voxels):
                        keep |= comp == i
            mask = keep
        out[mask] = value
    return out


def _is_fragment(comp: np.ndarray, i: int, box: tuple[slice, ...], main: np.ndarray, main_pieces: np.ndarray,
                 whole: tuple[np.ndarray, np.ndarray], reach: float) -> bool:
    """Component ``i`` lies within ``reach`` of ``main`` and is vertebra pieces of its level alone."""
    pieces, single_level = whole
    piece = comp[box] == i
    ids = np.unique(pieces[box][piece])
    if ids[0] == 0 or not single_level[ids].all() or np.isin(ids, main_pieces).any():
        return False  # split off a piece shared with another level, or cut from the main one's piece
    pad = int(np.ceil(reach)) + 1
    near = tuple(slice(max(0, b.start - pad), b.stop + pad) for b in box)
    if not main[near].any():
        return False
    inner = tuple(slice(b.start - n.start, b.stop - n.start) for b, n in zip(box, near))
    distance = ndimage.distance_transform_edt(~main[near])
    return bool(distance[inner][piece].min() <= reach)


def _level_heights(labels: np.ndarray, superior_axis_sign: int) -> tuple[list[int], np.ndarray]:
    """The levels present and their centroids' heights (z voxels, larger = nearer the head)."""
    values = [v for v in range(1, N_LEVELS + 1) if np.any(labels == v)]
    if not values:
        return values, np.zeros(0)
    heights = ndimage.center_of_mass(np.ones_like(labels), labels, values)
    return values, np.array([h[0] for h in heights]) * superior_axis_sign


def order_levels(labels: np.ndarray, superior_axis_sign: int = 1) -> np.ndarray:
    """Relabel levels so that C1..C7 go from head to feet.

    The set of level values is kept; only their assignment changes when two centroids are out of
    order (e.g. C3 predicted above C2).

    Args:
        labels: uint8 label map (z, y, x).
        superior_axis_sign: +1 if the z index grows towards the head (an LPS-oriented array),
            -1 if it grows towards the feet.

    Returns:
        The relabelled map (a copy).
    """
    values, z = _level_heights(labels, superior_axis_sign)
    if len(values) < 2:
        return labels.copy()
    by_height = [values[i] for i in np.argsort(-z)]  # head first
    if by_height == values:
        return labels.copy()
    lut = np.arange(256, dtype=np.uint8)
    for old, new in zip(by_height, values):
        lut[old] = new
    log.info("levels reordered head to feet: %s -> %s", by_height, values)
    return lut[labels]


def close_level_gaps(labels: np.ndarray, superior_axis_sign: int = 1) -> np.ndarray:
    """Renumber levels below a skipped level when no vertebra fits in the gap.

    Vertebrae are contiguous: if C4 and C6 are found one vertebra apart (their centroid distance
    near the median distance between the found neighbours), C5 is not missing, the lower levels are
    misnumbered. They are shifted up by the levels that do not fit (anchored at the top, where C1
    and C2 are the most distinctive). On the real head-and-neck CT the bodies at the bottom of the
    scan came out C6 18 mm below C4 (neighbours 15-20 mm apart). A gap wide enough for the
    missing levels (a vertebra the mask missed) is kept.

    Args:
        labels: uint8 label map (z, y, x), levels in head-to-feet order (distances along z only).
        superior_axis_sign: as in :func:`order_levels`.

    Returns:
        The relabelled map (a copy).
    """
    values, z = _level_heights(labels, superior_axis_sign)
    if len(values) < 3:
        return labels.copy()
    adjacent = [z[i] - z[i + 1] for i in range(len(values) - 1) if values[i + 1] - values[i] == 1]
    if not adjacent:
        return labels.copy()
    step = float(np.median(adjacent))
    lut = np.arange(256, dtype=np.uint8)
    shift = 0
    for i in range(1, len(values)):
        above, here = values[i - 1], values[i]
        fits = max(1, round(float(z[i - 1] - z[i]) / step))  # levels from the one above to this one
        if here - above > fits:
            shift += here - above - fits
        lut[here] = here - shift
    if shift:
        log.info("levels renumbered to close a gap no vertebra fits in: %s -> %s",
                 values, [int(lut[v]) for v in values])
    return lut[labels]


def postprocess_levels(labels: np.ndarray, vertebra: np.ndarray | None = None) -> np.ndarray:
    """:func:`keep_largest_component` (with fragments when the ``vertebra`` mask is given),
    :func:`order_levels`, :func:`close_level_gaps` (z towards the head)."""
    return close_level_gaps(order_levels(keep_largest_component(labels, vertebra)))


__all__ = ["BACKGROUND_SPLIT_SHARE", "CANDIDATE_SHARE", "COLUMN_SPLIT_SHARE", "CONFIDENT_BACKGROUND", "FRAGMENT_REACH_VOXELS", "MAX_FRAGMENT_SHARE", "MIN_CANDIDATE_VOXELS", "assign_levels",
           "close_level_gaps", "keep_largest_component", "order_levels", "postprocess_levels"]
