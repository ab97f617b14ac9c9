"""``report.html``: one self-contained page (the picture inlined, no script, no network), so it
opens from a USB stick on any machine."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from ..io.staging import staged_file
from .report_png import PHANTOM_LINE

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:right}
th{background:#eee}td:first-child{text-align:left}.frac{background:#fde2e2;font-weight:bold}
.absent{color:#999}.warn{background:#fff4d6;padding:.5em 1em;border-left:4px solid #e0a800}
.note{color:#555;font-size:.9em}img{max-width:100%}"""


def _cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def report_html(doc: dict[str, Any], png: bytes | None) -> str:
    """The page for a findings.json document and the report.png bytes."""
    rows = []
    for v in doc["vertebrae"]:
        h = v.get("heights_mm") or {}
        cls = "frac" if v.get("fracture") else ("absent" if not v["present"] else "")
        rows.append(
            f"<tr class='{cls}'><td>{v['level']}</td><td>{_cell(v['present'])}</td>"
            f"<td>{_cell(v['fracture_probability'], 3)}</td><td>{_cell(v['fracture'])}</td>"
            f"<td>{_cell(v.get('review'))}</td><td>{_cell(v['genant_grade'])}</td>"
            f"<td>{_cell(h.get('anterior'), 1)}</td><td>{_cell(h.get('middle'), 1)}</td>"
            f"<td>{_cell(h.get('posterior'), 1)}</td><td>{_cell(v['volume_ml'], 1)}</td>"
            f"<td>{_cell(v['mean_hu'], 0)}</td><td>{_cell(v['peak_slice'])}</td></tr>")
    patient = doc["patient"]
    models = "".join(f"<li>{html.escape(task)}: {html.escape(m['name'])} {html.escape(m['version'])} — trained on "
                     f"{html.escape(m['trained_on'])} <span class='note'>(sha256 {m['sha256'][:12]}…)</span></li>"
                     for task, m in doc["model"].items())
    warnings = "".join(f"<p class='warn'>{html.escape(w)}</p>" for w in doc["warnings"])
    timings = ", ".join(f"{html.escape(k)} {v:.1f} s" for k, v in doc["timings_s"].items() if v is not None)
    picture = (f"<img alt='mid-sagittal and coronal slices with the levels and the heat map, and the probabilities' "
               f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>") if png else ""
    point = html.escape(str(doc["operating_point"]))
    patient_t = patient.get("threshold")  # None in files written before it was recorded
    threshold = "" if patient_t is None else f" at patient threshold {patient_t:.3f} ({point} operating point)"
    level_t = "" if doc["threshold"] is None else \
        f"<p class=\"note\">A level is called fractured at probability ≥ {doc['threshold']:.3f} ({point} operating point).</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SpineFracture report</title><style>{STYLE}</style></head>
<body><h1>SpineFracture: cervical spine C1–C7</h1>
<p class="warn">{html.escape(PHANTOM_LINE)}</p>
{warnings}
<h2>Patient</h2><p>Fracture probability: <b>{_cell(patient['fracture_probability'], 3)}</b>;
fracture: <b>{_cell(patient['fracture'])}</b>{threshold}.</p>
{picture}
<h2>Levels</h2>
<table><tr><th>level</th><th>present</th><th>probability</th><th>fracture</th><th>review</th><th>Genant</th>
<th>anterior mm</th><th>middle mm</th><th>posterior mm</th><th>volume mL</th><th>mean HU</th><th>peak slice</th></tr>
{''.join(rows)}</table>
{level_t}
<p class="note">Heights on each body's mid-sagittal plane; Genant grade from the largest height loss against the
body's own and its neighbours' heights (C3–C7). Mean HU of the cancellous body, 2.5 mm inside the mask.
Peak slice: the slice (k index of the input) through the level's most suspicious voxel (the classifier's
fracture-region maximum inside the level, or the heat map's peak without it).</p>
<h2>Models</h2><ul>{models}</ul>
<p class="note">Input: {' × '.join(str(s) for s in doc['input']['size'])} voxels of
{' × '.join(f'{s:.2f}' for s in doc['input']['spacing_mm'])} mm, {html.escape(str(doc['input']['modality']))};
device {html.escape(doc['device'])}; {timings}.</p>
</body></html>
"""


def write_report_html(path: str | os.PathLike, doc: dict[str, Any], png_path: str | os.PathLike | None) -> Path:
    """Write report.html (atomically), inlining the picture at ``png_path`` when given."""
    png = Path(png_path).read_bytes() if png_path and Path(png_path).is_file() else None
    with staged_file(path) as tmp:
        tmp.write_text(report_html(doc, png), encoding="utf-8")
    return Path(path)


__all__ = ["report_html", "write_report_html"]
