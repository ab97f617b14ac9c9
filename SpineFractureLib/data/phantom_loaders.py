"""Loaders that generate phantoms on demand: the unlabelled-seed counterpart of the dataset readers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict

from .case import LabelledCase


def phantom_loaders(seeds: Sequence[int], config: dict | None = None) -> list[tuple[str, Callable[[], LabelledCase]]]:
    """Loaders generating phantoms on the fly (keys include a hash of the config).

    Args:
        seeds: phantom seeds.
        config: :class:`PhantomConfig` keyword arguments.
    """
    from ..data.phantom import PhantomConfig, make_phantom

    cfg = PhantomConfig(**(config or {}))
    tag = config_tag(cfg)
    return [(f"phantom-{int(s)}-{tag}", (lambda s=int(s): make_phantom(s, cfg))) for s in seeds]


def check_phantom_sets(sets: Sequence[dict]) -> None:
    """Check phantom sets ``[{"seeds": [first, count], "config": {...}}, ...]`` (ValueError).

    The generator's own :class:`PhantomConfig` checks each config (unknown options, bad values).
    """
    from ..data.phantom import PhantomConfig

    for entry in sets:
        if not isinstance(entry, dict) or set(entry) - {"seeds", "config"} or len(entry.get("seeds") or ()) != 2:
            raise ValueError(f"a phantom set is {{'seeds': [first, count], 'config': {{...}}}}, got {entry!r}")
        PhantomConfig(**(entry.get("config") or {}))


def phantom_set_loaders(sets: Sequence[dict]) -> list[tuple[str, Callable[[], LabelledCase]]]:
    """Loaders of several phantom sets, one after the other (see :func:`check_phantom_sets`)."""
    loaders = []
    for entry in sets:
        first, count = (int(v) for v in entry["seeds"])
        loaders += phantom_loaders(range(first, first + count), entry.get("config"))
    return loaders


#: Config fields added after caches existed, left out of the tag while at these values (the
#: phantoms they make are the same bytes as before the field, so their cached cases stay valid).
TAG_NEUTRAL = {"anatomy": "procedural", "texture": False, "antialias": False, "cancellous_hu": (170.0, 380.0)}


def cancellous_range(sets: Sequence[dict]) -> tuple[float, float]:
    """The cancellous-bone HU range that phantom sets draw from, all sets together (low, high).

    Args:
        sets: ``[{"seeds": [first, count], "config": {...}}, ...]``; a set without ``cancellous_hu``
            draws from :class:`PhantomConfig`'s default.
    """
    from ..data.phantom import PhantomConfig

    ranges = [PhantomConfig(**(entry.get("config") or {})).cancellous_hu for entry in sets]
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def config_tag(cfg) -> str:
    """8 hex digits naming a :class:`PhantomConfig` and the generator version (keys caches)."""
    from ..data.phantom.generator import GENERATOR_VERSION, MESH_ANATOMY_VERSION

    fields = {k: v for k, v in asdict(cfg).items() if not (k in TAG_NEUTRAL and v == TAG_NEUTRAL[k])}
    if cfg.anatomy == "mesh":
        fields["mesh_anatomy_version"] = MESH_ANATOMY_VERSION
    return hashlib.sha256(json.dumps([GENERATOR_VERSION, fields], sort_keys=True,
                                     default=str).encode()).hexdigest()[:8]


__all__ = ["cancellous_range", "check_phantom_sets", "config_tag", "phantom_loaders", "phantom_set_loaders"]
