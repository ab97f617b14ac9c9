"""CLI commands that make or convert data (synthetic phantoms)."""

from __future__ import annotations

from pathlib import Path

import typer

FORMATS = ("dicom", "nifti", "rsna", "verse")
ANATOMY_HELP = ("Phantom vertebrae: procedural (the shipped models' training data) or mesh (C1-C7 drawn from "
                "real anatomical shapes).")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("phantom")(phantom)


def phantom(
    out: Path = typer.Argument(..., help="Output folder."),
    seed: int = typer.Option(..., "--seed", help="Seed of the first phantom; the next ones use seed+1, ..."),
    count: int = typer.Option(1, "--count", min=1, help="Number of phantoms."),
    fmt: str = typer.Option("nifti", "--format", help="dicom | nifti | rsna | verse"),
    fracture_rate: float = typer.Option(0.5, "--fracture-rate", min=0.0, max=1.0,
                                        help="Probability that a phantom has a fracture."),
    difficulty: float = typer.Option(None, "--difficulty", min=0.0, max=1.0,
                                     help="0 obvious .. 1 subtle fractures (random if not given)."),
    size: tuple[int, int, int] = typer.Option(None, "--size", help="Voxels x y z (random FOV if not given)."),
    spacing: tuple[float, float, float] = typer.Option(None, "--spacing", help="Voxel size x y z in mm."),
    preview: bool = typer.Option(False, "--preview", help="Also write a PNG preview of each phantom."),
    fov: str = typer.Option("neck", "--fov",
                            help="Field of view: neck | head-neck | chest | abdomen | head | whole-body | "
                                 "head-upper-neck."),
    contrast: str = typer.Option("none", "--contrast", help="Contrast phase: none | arterial | venous."),
    anatomy: str = typer.Option("procedural", "--anatomy", help=ANATOMY_HELP),
) -> None:
    """Write synthetic cervical-spine CTs with C1-C7 labels, fractures and their truth.

    dicom/nifti: one folder per phantom (phantom-<seed>/) holding the CT, labels.nii.gz,
    fracture.nii.gz and truth.json. rsna: a dataset in the RSNA 2022 Kaggle layout. verse: one
    VerSe subject folder per phantom.
    """
    from ..data.case_io import write_case
    from ..data.phantom import PhantomConfig, make_phantom
    from ..data.phantom.preview import save_preview
    from ..errors import InputError

    if fmt not in FORMATS:
        raise InputError(None, f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    try:
        config = PhantomConfig(size_xyz=size, spacing=spacing, fracture_rate=fracture_rate, difficulty=difficulty,
                               fov=fov, contrast=contrast, anatomy=anatomy)
    except ValueError as err:
        raise InputError(None, str(err)) from err
    seeds = range(seed, seed + count)

    import shutil
    import tempfile

    pending = Path(tempfile.mkdtemp(prefix="spinefracture-previews-"))  # moved in once written

    def cases():
        for s in seeds:
            case = make_phantom(s, config)
            if preview:
                save_preview(case, pending / f"{case.case_id}-preview.png")
            yield case

    try:
        if fmt in ("dicom", "nifti"):
            for case in cases():
                write_case(case, out / case.case_id, fmt)
                for png in pending.glob("*.png"):
                    shutil.move(png, out / case.case_id / png.name)
                typer.echo(f"wrote {out / case.case_id}")
        elif fmt == "rsna":
            from ..data.rsna_write import write_rsna_dataset

            write_rsna_dataset(cases(), out)
            typer.echo(f"wrote an RSNA-layout dataset of {count} studies to {out}")
        else:
            from ..data.verse import write_verse_case

            for case in cases():
                subject = f"sub-{case.case_id.replace('-', '')}"
                write_verse_case(case, out, subject)
                typer.echo(f"wrote {out / subject}")
        if any(pending.iterdir()):
            (out / "previews").mkdir(parents=True, exist_ok=True)
            for png in pending.glob("*.png"):
                shutil.move(png, out / "previews" / png.name)
    finally:
        shutil.rmtree(pending, ignore_errors=True)
