"""``batch``: analyze every CT of an archive; one CSV row per case and level, and an RSNA 2022
submission.

- Each case gets its own output folder under ``OUT/cases/`` (everything ``analyze`` writes). A
  case whose folder holds a findings.json is finished: a rerun reads it instead of analysing
  again. A case that fails is written to the CSV with its error, and the batch goes on (a rerun
  tries it again).
- ``part_id`` / ``num_parts`` split the sorted cases round-robin, as nnU-Net's
  ``-part_id/-num_parts`` do, so that an archive runs as a job array on a cluster: parts
  0..n-1 together cover every case exactly once. Each part writes its own CSVs.
- Case names: the CT's path relative to the archive; the RSNA ``row_id`` uses its last part
  (in the RSNA 2022 layout, the StudyInstanceUID folder).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import LEVELS
from ..data.unlabelled_dirs import find_cts
from ..errors import InputError
from ..export.findings import CSV_COLUMNS, Findings, level_row
from ..io.staging import staged_file
from .evaluate_cls import write_rsna_submission

log = logging.getLogger(__name__)
#: findings.csv's columns, with the case, the patient's result and the error around them.
COLUMNS = ("case", *CSV_COLUMNS, "patient_fracture_probability", "patient_fracture", "error")
#: Probability written to the submission where a level or the patient has none (RSNA's
#: prevalence of a fractured level, roughly; the metric needs a number on every row).
PRIOR = 0.1


@dataclass(frozen=True)
class BatchOptions:
    """What every case is analyzed with."""

    segmentation: str = "default"
    classification: str = "default"
    device: str = "auto"
    gradcam: bool = True
    threshold: float | None = None
    operating_point: str = "balanced"


def split_cases(cases: list[tuple[str, Path]], part_id: int, num_parts: int) -> list[tuple[str, Path]]:
    """The cases of one part: every ``num_parts``-th of the sorted list, from ``part_id``.

    Raises:
        InputError: ``part_id`` outside 0..num_parts-1.
    """
    if num_parts < 1 or not 0 <= part_id < num_parts:
        raise InputError("--part-id", f"must be in 0..{num_parts - 1} for --num-parts {num_parts}, got {part_id}")
    return sorted(cases)[part_id::num_parts]


def case_folder(out: Path, key: str) -> Path:
    """The output folder of one case (its relative path, made safe as one folder name)."""
    return out / "cases" / "".join(c if c.isalnum() or c in "-_." else "_" for c in key)


_ANALYZER = None


def _init_worker(options: BatchOptions, threads: int) -> None:
    import torch

    from .analyze import Analyzer

    global _ANALYZER
    torch.set_num_threads(max(1, threads))
    _ANALYZER = Analyzer(options.segmentation, options.classification, options.device)


def _run_case(args: tuple[str, str, str, BatchOptions]) -> tuple[str, str | None]:
    """Analyze one case into its folder; returns (key, error or None)."""
    from ..io import load_ct
    from .outputs import write_outputs

    key, path, folder, options = args
    try:
        ct = load_ct(path, auto_hu_correction=True)
        analysis = _ANALYZER.analyze(ct, gradcam=options.gradcam, threshold=options.threshold,
                                     operating_point=options.operating_point)
        write_outputs(analysis, folder, overwrite=True)
        return key, None
    except InputError as err:
        return key, str(err)
    except Exception as err:  # one broken case must not stop the archive
        log.debug("case %s failed", key, exc_info=True)
        return key, f"internal error: {err.__class__.__name__}: {err}"


def run_batch(input_dir: str | os.PathLike, out: str | os.PathLike, options: BatchOptions = BatchOptions(), *,
              workers: int = 1, part_id: int = 0, num_parts: int = 1,
              progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Analyze the cases of one part of an archive and write its CSVs.

    Returns:
        ``cases``, ``analysed`` (this run), ``skipped`` (finished before), ``failed``, ``csv``,
        ``submission``.
    """
    report = progress or (lambda f, m: None)
    out = Path(out)
    split_cases([], part_id, num_parts)  # a bad part number is said before the archive is read
    cases = split_cases(find_cts(input_dir), part_id, num_parts)
    todo = [(k, p) for k, p in cases if not (case_folder(out, k) / "findings.json").is_file()]
    log.info("part %d of %d: %d cases, %d finished before", part_id, num_parts, len(cases), len(cases) - len(todo))
    errors: dict[str, str] = {}
    jobs = [(k, str(p), str(case_folder(out, k)), options) for k, p in todo]
    if jobs:
        threads = max(1, (os.cpu_count() or 1) // max(1, workers))
        if workers <= 1:
            _init_worker(options, threads)
            results = map(_run_case, jobs)
        else:
            import multiprocessing

            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(options, threads))
            results = pool.map(_run_case, jobs)
        for n, (key, error) in enumerate(results, start=1):
            if error:
                errors[key] = error
                log.warning("case %s failed: %s", key, error)
            report(n / len(jobs), f"{n} of {len(jobs)} cases")
        if workers > 1:
            pool.shutdown()
    suffix = "" if num_parts == 1 else f"-part{part_id}-of-{num_parts}"
    csv_path, sub_path = out / f"results{suffix}.csv", out / f"submission{suffix}.csv"
    _write_csvs(out, cases, errors, csv_path, sub_path)
    return {"cases": len(cases), "analysed": len(todo) - len(errors), "skipped": len(cases) - len(todo),
            "failed": len(errors), "csv": str(csv_path), "submission": str(sub_path)}


def _write_csvs(out: Path, cases: list[tuple[str, Path]], errors: dict[str, str], csv_path: Path,
                sub_path: Path) -> None:
    rows, submission = [], []
    for key, _ in cases:
        study = Path(key).name.split(".")[0] or key
        doc_path = case_folder(out, key) / "findings.json"
        if key in errors or not doc_path.is_file():
            rows.append({"case": key, "error": errors.get(key, "not analysed")})
            submission.append({"case": study, "levels": {lv: {"probability": None} for lv in LEVELS},
                               "patient_probability": None})
            continue
        findings = Findings.from_dict(json.loads(doc_path.read_text()))
        patient = findings.patient
        for v in findings.vertebrae:
            rows.append({"case": key, **level_row(v), "patient_fracture_probability": patient["fracture_probability"],
                         "patient_fracture": patient["fracture"], "error": ""})
        submission.append({"case": study, "patient_probability": patient["fracture_probability"],
                           "levels": {v.level: {"probability": v.fracture_probability} for v in findings.vertebrae}})
    out.mkdir(parents=True, exist_ok=True)
    with staged_file(csv_path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k, "")) for k in COLUMNS})
    write_rsna_submission(submission, sub_path, prior=PRIOR)


__all__ = ["BatchOptions", "COLUMNS", "PRIOR", "case_folder", "run_batch", "split_cases"]
