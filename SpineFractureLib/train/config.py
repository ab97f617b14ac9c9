"""What every training configuration shares: a JSON file or CLI flags, with a nested ``loop``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..errors import InputError
from .loop import LoopOptions

C = TypeVar("C", bound="ConfigMixin")


class ConfigMixin:
    """JSON round trip for a dataclass config with a ``loop: LoopOptions`` field.

    Subclasses list the keys read as tuples of ints in ``TUPLE_KEYS`` and check their values in
    :meth:`validate` (raising ValueError).
    """

    TUPLE_KEYS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_file(cls: type[C], path: str | os.PathLike, **overrides: Any) -> C:
        """Read a JSON config; ``overrides`` (not None) replace its values; ``loop`` is a nested object.

        Raises:
            InputError: unreadable JSON.
            ValueError: unknown keys or bad values.
        """
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise InputError(path, f"is not a readable JSON config ({err})") from err
        return cls.from_dict(raw, **overrides)

    @classmethod
    def from_dict(cls: type[C], raw: dict[str, Any], **overrides: Any) -> C:
        """Build from plain values (unknown keys raise ValueError)."""
        raw = dict(raw)
        loop_raw = dict(raw.pop("loop", {}))
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        loop_names = {f.name for f in fields(LoopOptions)}
        for key, value in overrides.items():
            if value is None:
                continue
            if key in loop_names:
                loop_raw[key] = value
            else:
                raw[key] = value
        unknown = (set(raw) - names) | (set(loop_raw) - loop_names)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        for key in cls.TUPLE_KEYS:
            if raw.get(key) is not None:
                raw[key] = tuple(int(v) for v in raw[key])
        cfg = cls(**raw, loop=LoopOptions(**loop_raw))  # type: ignore[call-arg]
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check values across fields (override; raise ValueError)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return json.loads(json.dumps(asdict(self)))  # type: ignore[call-overload]


class PhantomSetsMixin:
    """The phantom sets of a training config with ``phantom_seeds``, ``phantom_config`` and
    ``extra_phantoms`` fields (see :func:`~SpineFractureLib.data.phantom_loaders.check_phantom_sets`)."""

    def phantom_sets(self) -> list[dict[str, Any]]:
        """Every phantom set of the run: ``phantom_seeds`` with ``phantom_config``, then ``extra_phantoms``."""
        return [{"seeds": list(self.phantom_seeds), "config": self.phantom_config},  # type: ignore[attr-defined]
                *self.extra_phantoms]  # type: ignore[attr-defined]

    def check_phantom_sets(self) -> None:
        """ValueError naming ``extra_phantoms`` or the bad option where a set is malformed."""
        from ..data.phantom_loaders import check_phantom_sets

        try:
            check_phantom_sets(self.phantom_sets())
        except ValueError as err:
            raise ValueError(f"phantom_config / extra_phantoms: {err}") from err


__all__ = ["ConfigMixin", "PhantomSetsMixin"]
