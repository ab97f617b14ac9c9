"""Training cases of the localizer: phantoms of every field of view, brought to the localizer's grid.

Each case keeps the 4 mm CT (int16 HU) and a class map on the same grid: 0 background,
1 = a cervical vertebra (C1..C7), 2 = any other vertebra (T1..L3). Which cervical level a voxel
is, is the segmentation's job: a first nine-class localizer (C1..C7 apart), trained as long as
this one, collapsed onto two level classes and missed the real head-and-neck CT. Cases are drawn
over the generator's fields of view (:data:`FOV_MIX`; head and abdomen hold no cervical spine),
contrast phase and voxel size at random from the seed, and cached as ``.npz`` under a key of the
phantom's configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import HU_AIR, HU_MAX, N_LEVELS
from ..preprocess.geometry import resample_like
from ..preprocess.localizer_input import localizer_volume
from ..volume import CTVolume
from .case import LabelledCase

#: Classes of the localizer's map.
CERVICAL, OTHER_VERTEBRA = 1, 2
N_LOCALIZER_CLASSES = 3
FOV_MIX = {"neck": 0.25, "head-neck": 0.15, "chest": 0.2, "whole-body": 0.15, "head": 0.12, "abdomen": 0.13}
#: Bump when the prepared arrays change meaning (invalidates caches).
PREPARED_VERSION = "loc-2"


@dataclass
class LocSample:
    """One prepared case on the 4 mm grid (identity direction): ``hu`` int16 and ``target`` uint8 (z, y, x)."""

    case_id: str
    hu: np.ndarray
    target: np.ndarray


def localizer_phantom_config(seed: int):
    """The phantom options of localizer training seed ``seed`` (field of view, contrast, voxel size)."""
    from .phantom import PhantomConfig
    from .phantom.trunk_tissue import CONTRAST_PHASES

    rng = np.random.default_rng([int(seed), 4242])
    kind = str(rng.choice(list(FOV_MIX), p=list(FOV_MIX.values())))
    in_plane = float(rng.uniform(1.2, 2.5))
    spacing = (in_plane, in_plane, float(rng.choice([1.0, 2.0, 3.0, 5.0])))
    return PhantomConfig(fov=kind, contrast=str(rng.choice(CONTRAST_PHASES)), spacing=spacing)


def truth_classes(case: LabelledCase) -> tuple[np.ndarray, CTVolume]:
    """The truth's class map on the localizer's grid (nearest-neighbour labels), and that grid.

    Returns:
        uint8 (z, y, x) map (0 background, :data:`CERVICAL`, :data:`OTHER_VERTEBRA`) and the
        localizer's volume of the case's CT (HU, identity direction).
    """
    vol = localizer_volume(case.ct)
    labels = resample_like(case.labels, vol, is_label=True).array
    return np.where(labels > N_LEVELS, OTHER_VERTEBRA, np.where(labels > 0, CERVICAL, 0)).astype(np.uint8), vol


def prepare_localizer_sample(case: LabelledCase) -> LocSample:
    """The case on the localizer's grid, with its class map (nearest-neighbour labels)."""
    target, vol = truth_classes(case)
    hu = np.clip(np.round(vol.array), HU_AIR, HU_MAX).astype(np.int16)
    return LocSample(case.case_id, hu, target)


def load_localizer_samples(seeds: range | list[int], folder: str | os.PathLike | None) -> list[LocSample]:
    """Prepared phantom cases of the given seeds, generated on first use and cached in ``folder``."""
    from .phantom import make_phantom
    from .phantom_loaders import config_tag

    out = []
    for seed in seeds:
        config = localizer_phantom_config(int(seed))
        path = Path(folder) / f"loc-{seed}-{config_tag(config)}-{PREPARED_VERSION}.npz" if folder else None
        if path is not None and path.is_file():
            with np.load(path) as z:
                out.append(LocSample(f"phantom-{seed}", z["hu"], z["target"]))
            continue
        sample = prepare_localizer_sample(make_phantom(int(seed), config))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + f".tmp{os.getpid()}.npz")
            np.savez_compressed(tmp, hu=sample.hu, target=sample.target)
            tmp.replace(path)
        out.append(sample)
    return out


__all__ = ["CERVICAL", "FOV_MIX", "LocSample", "N_LOCALIZER_CLASSES", "OTHER_VERTEBRA", "PREPARED_VERSION",
           "load_localizer_samples", "localizer_phantom_config", "prepare_localizer_sample", "truth_classes"]
