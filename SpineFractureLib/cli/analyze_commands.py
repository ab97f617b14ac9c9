"""`analyze`, `classify` and `demo`: thin wrappers over SpineFractureLib.pipeline (DESIGN §4)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError

_DEVICE = typer.Option("auto", "--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps.")
_MODEL = typer.Option("default", "--model", help="Segmentation model: registered name or weights file.")
_CLASSIFIER = typer.Option("default", "--classifier", help="Fracture classifier: registered name or weights file.")
_THRESHOLD = typer.Option(None, "--threshold", min=0.0, max=1.0,
                          help="Decision threshold (default: the classifier's balanced operating point).")
_TRIAGE = typer.Option(False, "--triage", help="Use the triage operating point (sensitivity >= 0.95 on validation).")
_NO_GRADCAM = typer.Option(False, "--no-gradcam", help="Skip the Grad-CAM heat map (faster).")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace an output folder that is not empty.")
_HU_OFFSET = typer.Option(None, "--hu-offset", help="Add this many HU to every voxel (a file with a wrong rescale).")
_NO_HU_CORRECTION = typer.Option(False, "--no-hu-correction",
                                 help="Do not add the offset the HU check suggests for values that are not HU.")
_PROGRESS_JSON = typer.Option(False, "--progress-json",
                              help='Print progress as one JSON object per line: {"fraction": 0.4, "message": ...}.')


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("analyze")(analyze)
    app.command("classify")(classify)
    app.command("demo")(demo)
    app.command("batch")(batch)


@contextmanager
def _progress(as_json: bool) -> Iterator[Callable[[float, str], None]]:
    """A ``progress(fraction, message)`` callback: JSON lines on stdout, or a bar on stderr."""
    if as_json:
        def emit(fraction: float, message: str) -> None:
            sys.stdout.write(json.dumps({"fraction": round(float(fraction), 4), "message": message}) + "\n")
            sys.stdout.flush()
        yield emit
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.console import Console

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=1.0)
        yield lambda fraction, message: bar.update(task, completed=float(fraction), description=message)


def _run(input: Path, out: Path, mask: Optional[Path], device: str, model: str, classifier: str,
         threshold: Optional[float], triage: bool, no_gradcam: bool, overwrite: bool, progress_json: bool,
         hu_offset: Optional[float] = None, no_hu_correction: bool = False):
    from ..io import load_ct
    from ..io.image_files import read_mask_on_grid
    from ..pipeline.analyze import Analyzer
    from ..pipeline.outputs import check_out_dir, write_outputs

    check_out_dir(out, overwrite)  # before minutes of work
    with _progress(progress_json) as report:
        report(0.0, "loading the CT")
        t0 = time.perf_counter()
        ct = load_ct(input, hu_offset=hu_offset, auto_hu_correction=not no_hu_correction)
        given = read_mask_on_grid(mask, ct) if mask is not None else None
        load_s = time.perf_counter() - t0
        report(0.02, "loading the models")
        try:
            analyzer = Analyzer(model, classifier, device)
        except ValueError as err:  # an unavailable device
            raise InputError("--device", str(err)) from err
        options = dict(gradcam=not no_gradcam, threshold=threshold, operating_point="triage" if triage else "balanced",
                       progress=report, load_seconds=load_s)
        analysis = analyzer.analyze(ct, **options) if given is None else analyzer.classify_mask(ct, given, **options)
        report(0.96, "writing the outputs")
        written = write_outputs(analysis, out, overwrite)
        report(1.0, "done")
    for w in analysis.findings.warnings:
        typer.echo(f"warning: {w}", err=True)
    return analysis, written


def _command(input: Path, out: Path, mask: Optional[Path], device: str, model: str, classifier: str,
             threshold: Optional[float], triage: bool, no_gradcam: bool, overwrite: bool, progress_json: bool,
             hu_offset: Optional[float], no_hu_correction: bool) -> None:
    """analyze / classify: run, then print the summary (unless the output is JSON lines)."""
    analysis, written = _run(input, out, mask, device, model, classifier, threshold, triage, no_gradcam, overwrite,
                             progress_json, hu_offset, no_hu_correction)
    if not progress_json:
        typer.echo(f"{_summary(analysis)}\nwrote {len(written)} files to {out}")


def _summary(analysis) -> str:
    f = analysis.findings
    present = [v for v in f.vertebrae if v.present]
    lines = [f"levels found: {', '.join(v.level for v in present) or 'none'}"]
    if f.patient["fracture_probability"] is not None:
        flagged = [f"{v.level} ({v.fracture_probability:.2f})" for v in present if v.fracture]
        t = f.patient.get("threshold")
        lines.append(f"patient fracture probability {f.patient['fracture_probability']:.2f}"
                     f" ({'fracture' if f.patient['fracture'] else 'no fracture'}"
                     f"{'' if t is None else f' at patient threshold {t:.2f}'}); suspicious levels (level threshold "
                     f"{f.threshold:.2f}): {', '.join(flagged) or 'none'}")
    return "\n".join(lines)


def analyze(
    input: Path = typer.Argument(..., help="CT: DICOM folder or file, .nii, .nii.gz, .nrrd or .mha."),
    out: Path = typer.Option(..., "--out", help="Output folder (DESIGN §4 lists its files)."),
    device: str = _DEVICE, model: str = _MODEL, classifier: str = _CLASSIFIER,
    threshold: Optional[float] = _THRESHOLD, triage: bool = _TRIAGE, no_gradcam: bool = _NO_GRADCAM,
    overwrite: bool = _OVERWRITE, progress_json: bool = _PROGRESS_JSON,
    hu_offset: Optional[float] = _HU_OFFSET, no_hu_correction: bool = _NO_HU_CORRECTION,
) -> None:
    """Segment C1-C7, estimate each level's fracture probability, explain it (Grad-CAM), measure, export."""
    _command(input, out, None, device, model, classifier, threshold, triage, no_gradcam, overwrite, progress_json,
             hu_offset, no_hu_correction)


def classify(
    input: Path = typer.Argument(..., help="CT: DICOM folder or file, .nii, .nii.gz, .nrrd or .mha."),
    mask: Path = typer.Option(..., "--mask", help="C1..C7 label map (1..7) on the CT's grid, e.g. a corrected one."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    device: str = _DEVICE, model: str = _MODEL, classifier: str = _CLASSIFIER,
    threshold: Optional[float] = _THRESHOLD, triage: bool = _TRIAGE, no_gradcam: bool = _NO_GRADCAM,
    overwrite: bool = _OVERWRITE, progress_json: bool = _PROGRESS_JSON,
    hu_offset: Optional[float] = _HU_OFFSET, no_hu_correction: bool = _NO_HU_CORRECTION,
) -> None:
    """Run the classifier and Grad-CAM on a given (corrected) mask; the mask is written back unchanged."""
    _command(input, out, mask, device, model, classifier, threshold, triage, no_gradcam, overwrite, progress_json,
             hu_offset, no_hu_correction)


def batch(
    input_dir: Path = typer.Argument(..., help="Archive: a folder of CTs (DICOM folders or image files, searched recursively)."),
    out: Path = typer.Option(..., "--out", help="Output folder: cases/<case>/ per case, results.csv, submission.csv."),
    workers: int = typer.Option(1, "--workers", min=1, help="Cases analysed in parallel (processes)."),
    part_id: int = typer.Option(0, "--part-id", min=0, help="This part's number, 0..num-parts-1 (a job array)."),
    num_parts: int = typer.Option(1, "--num-parts", min=1, help="Parts the archive is split into."),
    device: str = _DEVICE, model: str = _MODEL, classifier: str = _CLASSIFIER,
    threshold: Optional[float] = _THRESHOLD, triage: bool = _TRIAGE, no_gradcam: bool = _NO_GRADCAM,
    progress_json: bool = _PROGRESS_JSON,
) -> None:
    """Analyze every CT of an archive: one CSV row per case and level, an RSNA 2022 submission; reruns skip finished cases."""
    from ..pipeline.batch import BatchOptions, run_batch

    options = BatchOptions(model, classifier, device, not no_gradcam, threshold, "triage" if triage else "balanced")
    with _progress(progress_json) as report:
        summary = run_batch(input_dir, out, options, workers=workers, part_id=part_id, num_parts=num_parts,
                            progress=report)
    if not progress_json:
        typer.echo(f"{summary['cases']} cases: {summary['analysed']} analysed, {summary['skipped']} finished before, "
                   f"{summary['failed']} failed\n{summary['csv']}\n{summary['submission']}")


def demo(
    out: Path = typer.Option(Path("spinefracture-demo"), "--out", help="Folder for the demo's files."),
    overwrite: bool = typer.Option(True, "--overwrite/--no-overwrite", help="Replace an earlier demo's files."),
) -> None:
    """Make a synthetic neck CT with a known fracture, analyze it, and compare with the truth."""
    from ..data.demo_case import fractured_levels, make_demo_case
    from ..io.dicom_write import write_dicom_series
    from ..io.staging import staged_dir

    case = make_demo_case()
    ct_dir = out / "ct-dicom"
    if ct_dir.exists() and not overwrite:
        raise InputError(ct_dir, "exists (pass --overwrite to replace it)")
    with staged_dir(ct_dir) as tmp:
        write_dicom_series(case.ct, tmp, series_description="SpineFracture demo phantom",
                           uid_seed="spinefracture-demo")
    analysis, written = _run(ct_dir, out / "analysis", None, "auto", "default", "default", None, False, False,
                             overwrite, False)
    truth = fractured_levels(case)
    kinds = ", ".join(f"{lv} ({case.truth['levels'][lv]['kind']})" for lv in truth)
    typer.echo(f"synthetic CT with a known fracture at {kinds}: {ct_dir}")
    typer.echo(_summary(analysis))
    probs = [(v.fracture_probability, v.level) for v in analysis.findings.vertebrae
             if v.fracture_probability is not None]
    if probs:
        p, level = max(probs)
        verdict = "a truly fractured level" if level in truth else "not a truly fractured level"
        typer.echo(f"most suspicious level: {level} (probability {p:.2f}), {verdict}")
    typer.echo(f"outputs ({len(written)} files): {out / 'analysis'} — open report.html")
    typer.echo("research use only; the shipped models are trained on synthetic phantoms")


__all__ = ["analyze", "batch", "classify", "demo", "register"]
