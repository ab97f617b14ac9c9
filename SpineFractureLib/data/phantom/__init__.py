"""Synthetic cervical-spine CT with C1–C7 labels and fractures: the project's data engine."""

from .generator import GENERATOR_VERSION, PhantomConfig, make_phantom, planned_fractures

__all__ = ["GENERATOR_VERSION", "PhantomConfig", "make_phantom", "planned_fractures"]
