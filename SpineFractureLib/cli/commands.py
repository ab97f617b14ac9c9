"""The CLI commands. Each one parses options, calls the library, and prints; no computation."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("info")(info)
    app.command("demo")(demo)


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


def demo(
    out: Path = typer.Option(Path("spinefracture-demo"), "--out", help="Folder for the demo's files."),
) -> None:
    """Make a synthetic neck CT, write it as a DICOM series, load it back and describe it.

    The segmentation and fracture models are not shipped yet: for now the demo stops after
    loading and describing the CT.
    """
    from ..data.toy_ct import make_toy_ct
    from ..describe import describe_ct, format_description
    from ..io import load_ct
    from ..io.dicom_write import write_dicom_series
    from ..io.staging import staged_dir

    ct_dir = out / "ct-dicom"
    with staged_dir(ct_dir) as tmp:
        write_dicom_series(make_toy_ct(seed=0), tmp, series_description="SpineFracture toy CT",
                           uid_seed="spinefracture-demo")
    volume = load_ct(ct_dir)
    typer.echo(f"wrote a synthetic CT series to {ct_dir}\n{format_description(describe_ct(volume))}")
    typer.echo("segmentation and fracture models are not shipped yet: analysis is not available "
               "in this version")
