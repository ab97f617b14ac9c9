"""Running ``spinefracture analyze`` / ``classify`` as a child process the GUI can poll and cancel.

The networks never run in Slicer's own process: a crash or a long run must not take the
application with it, and torch threads must not freeze the GUI. The module starts
``PythonSlicer -m SpineFractureLib analyze ... --progress-json`` and reads its output on a thread;
the widget calls :meth:`CliRun.poll` from a ``qt.QTimer`` (the pattern of SlicerMONAIAuto3DSeg's
``process.py``, which works on every Slicer version; ``slicer.util.launchConsoleProcess(...,
blocking=False)`` exists only from Slicer 5.12 and has no way to cancel). This file imports no qt:
the timer lives in the widget, and pytest drives :meth:`CliRun.poll` directly.

The launcher (``slicer.util.launchConsoleProcess`` inside Slicer, ``subprocess.Popen`` in tests)
merges stderr into stdout, so one stream holds both the JSON progress lines and the CLI's
``error: ...`` line.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

#: Return code reported for a run the user cancelled (as SlicerMONAIAuto3DSeg's USER_CANCELLED).
CANCELLED = 1001
DEVICES = ("auto", "cpu", "cuda", "mps")

Launcher = Callable[[list[str], dict[str, str]], subprocess.Popen]


def library_root() -> Path:
    """The folder that holds the ``SpineFractureLib`` package (a source tree or Slicer's
    qt-scripted-modules folder)."""
    import SpineFractureLib

    return Path(SpineFractureLib.__file__).resolve().parent.parent


def cli_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment updates for the child: ``PYTHONPATH`` starting with :func:`library_root`.

    Slicer puts the extension's module folder on ``sys.path`` of its own interpreter only; a
    ``PythonSlicer`` child would not find the library without this.
    """
    base = os.environ if base is None else base
    paths = [str(library_root())] + [p for p in base.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def cli_command(
    python: str,
    command: str,
    input_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    mask: str | os.PathLike | None = None,
    device: str = "auto",
    model: str | None = None,
    classifier: str | None = None,
    threshold: float | None = None,
    gradcam: bool = True,
) -> list[str]:
    """The argument list of one ``analyze`` or ``classify`` run (with ``--progress-json``).

    Args:
        python: the interpreter (``shutil.which("PythonSlicer")`` inside Slicer).
        command: "analyze" or "classify".
        input_path: the CT file the module wrote.
        out_dir: a new, empty output folder.
        mask: the label map for "classify".
        device: auto, cpu, cuda or mps.
        model / classifier: a segmentation / classification model name or file; None = shipped.
        threshold: a decision threshold, or None for the model's balanced operating point.
        gradcam: compute the heat maps.

    Raises:
        ValueError: an unknown command or device, or "classify" without a mask.
    """
    if command not in ("analyze", "classify"):
        raise ValueError(f"command must be analyze or classify, got {command!r}")
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    args = [python, "-m", "SpineFractureLib", command, os.fspath(input_path), "--out", os.fspath(out_dir),
            "--device", device, "--progress-json"]
    if command == "classify":
        if mask is None:
            raise ValueError("classify needs a mask")
        args += ["--mask", os.fspath(mask)]
    if model:
        args += ["--model", str(model)]
    if classifier:
        args += ["--classifier", str(classifier)]
    if threshold is not None:
        args += ["--threshold", f"{float(threshold):g}"]
    if not gradcam:
        args.append("--no-gradcam")
    return args


def parse_progress(line: str) -> tuple[float, str] | None:
    """``(fraction, message)`` of a ``--progress-json`` line, or None for any other line."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or "fraction" not in doc:
        return None
    return float(doc["fraction"]), str(doc.get("message", ""))


def popen_launcher(args: list[str], env_updates: dict[str, str]) -> subprocess.Popen:
    """Start a child with stdout and stderr merged, as ``slicer.util.launchConsoleProcess`` does."""
    env = {**os.environ, **env_updates}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


@dataclass
class CliRun:
    """One child process of the CLI, read on a thread and polled by its owner.

    Attributes:
        args: the command line.
        fraction / message: the latest progress.
        log: every output line that is not progress (warnings, the error).
        returncode: None while running; :data:`CANCELLED` after :meth:`cancel`.
    """

    args: list[str]
    launcher: Launcher = popen_launcher
    env_updates: dict[str, str] = field(default_factory=cli_environment)
    fraction: float = 0.0
    message: str = "starting"
    log: list[str] = field(default_factory=list)
    returncode: int | None = None
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    _lines: queue.Queue = field(default_factory=queue.Queue, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> CliRun:
        """Start the child and the thread that reads its output."""
        logger.info("running %s", " ".join(self.args[2:4]))
        self._proc = self.launcher(list(self.args), dict(self.env_updates))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in iter(self._proc.stdout.readline, ""):
            self._lines.put(line.rstrip("\n"))
        self._proc.wait()
        self._lines.put(None)  # end of output

    def poll(self) -> bool:
        """Take in the output that arrived; never blocks.

        Returns:
            True while the run goes on, False once it has ended (``returncode`` is then set).
        """
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return self.returncode is None
            if line is None:
                if self.returncode is None:
                    self.returncode = self._proc.returncode
                return False
            progress = parse_progress(line)
            if progress is None:
                if line.strip():
                    self.log.append(line)
            else:
                self.fraction, self.message = progress

    def wait(self, timeout_s: float | None = None) -> int:
        """Block until the run ends (scripts and tests; the GUI polls instead)."""
        assert self._reader is not None
        self._reader.join(timeout_s)
        self.poll()
        if self.returncode is None:
            raise TimeoutError(f"the run did not end within {timeout_s} s")
        return self.returncode

    def cancel(self) -> None:
        """End the child and every process it started; the run's outputs are then abandoned."""
        if self._proc is None or self.returncode is not None:
            return
        _kill_tree(self._proc.pid)
        self._proc.wait()
        self.returncode = CANCELLED
        self.message = "cancelled"

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0

    def error_message(self) -> str:
        """The CLI's one-line error (``error: <file>: <problem>``), else the last line it printed."""
        errors = [line for line in self.log if line.startswith("error:")]
        if errors:
            return errors[-1][len("error:"):].strip()
        if self.returncode == CANCELLED:
            return "cancelled"
        return self.log[-1] if self.log else f"the analysis ended with code {self.returncode}"


def _kill_tree(pid: int) -> None:
    # proc.kill() alone would stop only PythonSlicer's launcher and leave the real interpreter (and
    # any worker it started) running: kill the children first, as SlicerMONAIAuto3DSeg does.
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    for child in parent.children(recursive=True):
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        parent.kill()
    except psutil.NoSuchProcess:
        pass


def current_python() -> str:
    """The interpreter to run the CLI with outside Slicer (tests, scripts)."""
    return sys.executable


__all__ = ["CANCELLED", "CliRun", "DEVICES", "Launcher", "cli_command", "cli_environment", "current_python",
           "library_root", "parse_progress", "popen_launcher"]
