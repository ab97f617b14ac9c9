"""Errors the command line turns into exit codes (DESIGN §4)."""

from __future__ import annotations

import os


class InputError(ValueError):
    """Bad input: the CLI prints the message as one line and exits with code 2.

    The message always names the offending file or folder and what is wrong with it. It must
    never contain patient identifiers (name, ID, birth date).
    """

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{self.path}: {problem}")
