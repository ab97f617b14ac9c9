"""Run the classifier ablation (the issue's table): one ``train-cls`` run per switched-off part, then
``evaluate`` on held-out phantoms, then one markdown table with the command of each row.

Every row trains from the same data, seed and budget (``--config``) with one flag added; the rows
run ``--parallel`` at a time as separate ``spinefracture`` processes, each with ``--threads`` CPU
threads (on a GPU machine give ``--device cuda``: the rows then share the GPU). A row whose
evaluation JSON already exists is not run again, and a row whose training was stopped goes on from its
last checkpoint (``OUT/<row>/last.pt``; only when ``OUT/<row>/command.json`` shows the same command and
config wrote it), so an interrupted ablation resumes. A resumed row restarts its
current epoch's data order, so it is not step-for-step the run it would have been.

    python benchmarks/cls_ablation.py --config A.json --out runs/ablation --cache CACHE \
        [--train 2240 240] [--val 810000 48] [--eval 810000 48] [--rows base init-none ...] \
        [--parallel 2] [--threads 1] [--device cpu] [--prepare-workers 2]

Writes ``OUT/<row>/model.pt``, ``OUT/<row>_eval.json``, ``OUT/<row>.log`` and ``OUT/ablation.md``
(also printed). The shipped weights are trained on synthetic phantoms; so is every row here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from SpineFractureLib.constants import LEVELS

log = logging.getLogger("cls_ablation")
HERE = Path(__file__).resolve().parent
#: Row name -> (train-cls flags, what the row switches off). ``base`` is the full model.
ROWS: dict[str, tuple[list[str], str]] = {
    "base": ([], "nothing (the full model)"),
    "init-none": (["--init", "none"], "MAE / segmentation initialisation of the encoder"),
    "no-level-embedding": (["--no-level-embedding"], "level embedding"),
    "context-none": (["--context", "none"], "context module (BiGRU across levels)"),
    "windows-1": (["--windows", "1"], "two of the three bone windows"),
    "no-fracture-input": (["--no-fracture-input"], "fracture-region input channel"),
    "region-weight-0": (["--region-weight", "0"], "dense fracture-region loss"),
}


def train_command(row: str, a: argparse.Namespace, resume: Path | None = None) -> list[str]:
    """The ``spinefracture train-cls`` command line of one row (``resume``: a checkpoint to go on from)."""
    return ["spinefracture", "-v", "train-cls", "--config", str(a.config), "--out", str(a.out / row),
            "--phantom-seeds", *map(str, a.train), "--val-phantom-seeds", *map(str, a.val),
            "--cache", str(a.cache), "--device", a.device, "--version", f"abl-{row}", *ROWS[row][0],
            *(["--resume", str(resume)] if resume else [])]


def eval_command(row: str, a: argparse.Namespace) -> list[str]:
    """The ``spinefracture evaluate`` command line of one row (no Grad-CAM: AUCs, log loss, ECE)."""
    return ["spinefracture", "evaluate", "--task", "classification", "--phantoms", str(a.eval[1]),
            "--seed", str(a.eval[0]), "--cache", str(a.cache), "--model", str(a.out / row / "model.pt"),
            "--no-gradcam", "--device", a.device, "--json", "--out", str(a.out / f"{row}_eval.json")]


def run_row(row: str, a: argparse.Namespace) -> dict:
    """Train and evaluate one row (skipped where its evaluation JSON exists); returns its metrics."""
    result = a.out / f"{row}_eval.json"
    if not result.is_file():
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
        t0 = time.perf_counter()
        last, started = a.out / row / "last.pt", a.out / row / "command.json"
        # A checkpoint is gone on from only by the command that wrote it (same config, data, flags).
        command = train_command(row, a) + [a.config.read_text()]
        if last.is_file() and (not started.is_file() or json.loads(started.read_text()) != command):
            raise SystemExit(f"{last}: written by another command or config than this row's; "
                             "move it away to start the row afresh")
        (a.out / row).mkdir(parents=True, exist_ok=True)
        started.write_text(json.dumps(command))
        with open(a.out / f"{row}.log", "a") as logf:
            for cmd in (train_command(row, a, last if last.is_file() else None), eval_command(row, a)):
                logf.write("$ " + shlex.join(cmd) + "\n")
                logf.flush()
                subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, check=True)
        log.info("%s done in %.0f s", row, time.perf_counter() - t0)
    return json.loads(result.read_text())


def table(results: dict[str, dict], a: argparse.Namespace) -> str:
    """The markdown table: one line per row, then each row's command."""
    def f(x: float | None) -> str:
        return "–" if x is None else f"{x:.3f}"

    lines = [f"Train phantoms {a.train[0]}..{sum(a.train) - 1}, validation {a.val[0]}..{sum(a.val) - 1}, "
             f"evaluated on {a.eval[0]}..{sum(a.eval) - 1}; config {a.config.name}: "
             f"`{json.dumps(json.loads(a.config.read_text()))}`", "",
             "| row | switched off | macro AUC | pooled AUC | patient AUC | RSNA log loss | ECE level / patient | "
             + " | ".join(LEVELS) + " |", "|" + "---|" * (7 + len(LEVELS))]
    for row, m in results.items():
        auc = m["auc"]
        lines.append(f"| {row} | {ROWS[row][1]} | {f(auc['macro'])} | {f(auc['pooled'])} | {f(auc['patient'])} | "
                     f"{f(m['rsna_log_loss'])} | {f(m['ece']['level'])} / {f(m['ece']['patient'])} | "
                     + " | ".join(f(auc[lv]) for lv in LEVELS) + " |")
    lines += ["", "Commands (each row: train, then evaluate):", ""]
    for row in results:
        lines += [f"    {shlex.join(train_command(row, a))}", f"    {shlex.join(eval_command(row, a))}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="train-cls JSON config shared by every row")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--train", nargs=2, type=int, default=(2240, 240), metavar=("FIRST", "COUNT"))
    parser.add_argument("--val", nargs=2, type=int, default=(810000, 48), metavar=("FIRST", "COUNT"))
    parser.add_argument("--eval", nargs=2, type=int, default=(810000, 48), metavar=("FIRST", "COUNT"),
                        help="held-out phantoms the rows are compared on (never training seeds)")
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per row")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--prepare-workers", type=int, default=0,
                        help="first fill the cache with this many processes (prepare_cls_cache.py); 0: skip")
    a = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if set(range(a.train[0], sum(a.train))) & set(range(a.eval[0], sum(a.eval))):
        parser.error("--eval seeds overlap the --train seeds")
    a.out.mkdir(parents=True, exist_ok=True)
    if a.prepare_workers:
        seeds = [str(x) for pair in (a.train, a.val, a.eval) for x in ("--seeds", *map(str, pair))]
        subprocess.run([sys.executable, str(HERE / "prepare_cls_cache.py"), "--cache", str(a.cache), *seeds,
                        "--workers", str(a.prepare_workers)], check=True)
    with ThreadPoolExecutor(a.parallel) as pool:
        done = dict(zip(a.rows, pool.map(lambda r: run_row(r, a), a.rows)))
    text = table(done, a)
    (a.out / "ablation.md").write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
