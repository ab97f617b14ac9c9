"""`spinefracture` entry point: the typer app, logging set-up and exit codes (DESIGN §4).

Exit codes: 0 done; 2 bad input or usage (one line on stderr naming the file and the problem);
1 internal error. Heavy packages are imported inside the commands so `--help` stays fast.
"""

from __future__ import annotations

import logging
import sys

import typer

from ..errors import InputError
from . import analyze_commands, cls_commands, commands, data_commands, loc_commands, train_commands

log = logging.getLogger("SpineFractureLib")

app = typer.Typer(
    name="spinefracture",
    help="Cervical spine (C1-C7) CT segmentation and fracture analysis. Research software, "
    "not a medical device; shipped weights are trained on synthetic phantoms.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


commands.register(app)
analyze_commands.register(app)
data_commands.register(app)
train_commands.register(app)
cls_commands.register(app)
loc_commands.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script calls ``sys.exit(main())``).

    Usage errors and ``--help`` are handled by typer itself (exit 2 and 0); library errors
    are turned into one line on stderr here.
    """
    try:
        app(args=argv, prog_name="spinefracture")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # the last line of defence: one line, exit 1, traceback with -v
        log.debug("internal error", exc_info=True)
        print(f"internal error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    return 0

if __name__ == "__main__":
    sys.exit(main())
