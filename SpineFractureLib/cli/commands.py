"""The CLI commands. Each one parses options, calls the library, and prints; no computation."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("info")(info)


def info(
    input: Path = typer.Argument(..., help="CT: DICOM folder or file, .nii, .nii.gz, .nrrd or .mha."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    hu_offset: float = typer.Option(None, "--hu-offset",
                                    help="Add this many HU to every voxel (files with a wrong rescale)."),
) -> None:
    """Describe a CT: size, spacing, orientation, HU range, modality, series description."""
    from ..describe import describe_ct, format_description
    from ..io import load_ct

    volume = load_ct(input, hu_offset=hu_offset)
    description = describe_ct(volume)
    if as_json:
        typer.echo(json.dumps({"input": str(input), **description}, indent=2))
    else:
        typer.echo(f"{input}\n{format_description(description)}")
