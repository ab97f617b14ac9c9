"""The `spinefracture` command line (thin typer commands over the library)."""

from .main import app, main

__all__ = ["app", "main"]
