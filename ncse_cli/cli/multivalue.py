"""Numeric options that take several values after one flag: ``--snr 0 5 10`` (as well as ``--snr 0 --snr 5``).

Typer options take one value per occurrence. :func:`multi_value_command` returns a command class that, before
parsing, rewrites ``--snr 0 5 10`` into ``--snr=0 --snr=5 --snr=10`` (a short ``-s 0 5`` into ``-s0 -s5``) for
the named options (declared as
``list[float]`` / ``list[int]`` options). Only tokens that parse as numbers are taken, so a following flag or
argument ends the list, and negative values (``--snr -5 0``) work. Usage::

    @app.command(cls=multi_value_command("--snr"))
    def ood(snr: Annotated[list[float], typer.Option("--snr", help=...)] = [0.0, 5.0, 10.0]): ...
"""

from __future__ import annotations

from typing import Any, Sequence

from typer.core import TyperCommand


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _attached(option: str, value: str) -> str:
    """One token holding option and value, so a negative value is never read as a flag: ``--snr=-5``, ``-s-5``."""
    return f"{option}={value}" if option.startswith("--") else f"{option}{value}"


def expand_multi_values(args: Sequence[str], options: Sequence[str]) -> list[str]:
    """``["--snr", "0", "5"] -> ["--snr=0", "--snr=5"]`` for the given option names; other tokens unchanged."""
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return out + list(args[i:])
        j = i + 1
        while token in options and j < len(args) and _is_number(args[j]):
            j += 1
        if j > i + 1:
            out += [_attached(token, value) for value in args[i + 1:j]]
        else:
            out.append(token)
        i = j
    return out


def multi_value_command(*options: str) -> type[TyperCommand]:
    """A Typer command class whose listed options accept several numbers after one flag."""

    class MultiValueCommand(TyperCommand):
        """A command that expands several values after one flag before parsing."""

        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            return super().parse_args(ctx, expand_multi_values(args, options))

    return MultiValueCommand
