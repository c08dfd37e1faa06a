"""What a command does before Typer parses it, and what its ``--help`` looks up only when it is shown.

:func:`command` returns a Typer command class that

- accepts several numbers after one flag for the named options: ``--snr 0 5 10`` is rewritten into
  ``--snr=0 --snr=5 --snr=10`` (a short ``-w 1 3`` into ``-w1 -w3``). Only tokens that parse as numbers are
  taken, so a following flag or argument ends the list, and negative values (``--snr -5 0``) work; options
  that take several words (``--reference null mismatched``) take every following token that is not a flag;
- accepts the old spelling of a renamed flag (:data:`RENAMED_FLAGS`) with a one-line deprecation notice;
- renders in ``--help`` the defaults and choices that live in the library (:func:`ncse_cli.api.defaults`,
  :func:`ncse_cli.api.choices`), so that each default is written once, in the library; they are looked up only
  when this command's help is printed, so ``ncse --help`` imports nothing of the library. An option shows the
  default of the library parameter with its name, so CLI parameters are named like the library's.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from typer.core import TyperCommand

from ncse_cli.cli._common import err_console

#: Flags renamed since an earlier version: old spelling -> new. The old one keeps working, with a notice.
RENAMED_FLAGS = {"--cfg-scale": "--guidance-scale"}


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _attached(option: str, value: str) -> str:
    """One token holding option and value, so a negative value is never read as a flag: ``--snr=-5``, ``-s-5``."""
    return f"{option}={value}" if option.startswith("--") else f"{option}{value}"


def expand_multi_values(args: Sequence[str], options: Sequence[str], word_options: Sequence[str] = ()) -> list[str]:
    """``["--snr", "0", "5"] -> ["--snr=0", "--snr=5"]`` for the number ``options`` (and every following token
    that is not a flag for the ``word_options``); other tokens unchanged."""
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return out + list(args[i:])
        j = i + 1
        while j < len(args) and ((token in options and _is_number(args[j]))
                                 or (token in word_options and not args[j].startswith("-"))):
            j += 1
        if j > i + 1:
            out += [_attached(token, value) for value in args[i + 1:j]]
        else:
            out.append(token)
        i = j
    return out


def rename_flags(args: Sequence[str], renamed: Mapping[str, str] = RENAMED_FLAGS) -> list[str]:
    """Old flag spellings replaced by the new ones (also in ``--old=value``), each with one notice."""
    out = []
    for token in args:
        if token == "--":
            return out + list(args[len(out):])
        flag, sep, value = token.partition("=")
        if flag in renamed:
            err_console.print(f"[yellow]deprecated:[/] {flag} is now {renamed[flag]}")
            token = renamed[flag] + sep + value
        out.append(token)
    return out


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def command(*, defaults: str | None = None, choices: Mapping[str, str] | None = None,
            multi_values: Sequence[str] = (), multi_words: Sequence[str] = ()) -> type[TyperCommand]:
    """A Typer command class (``@app.command(cls=command(...))``): ``defaults`` names the command whose library
    defaults its help shows (:func:`ncse_cli.api.defaults`), ``choices`` maps options to the kind of names they
    take (:func:`ncse_cli.api.choices`), ``multi_values`` lists the options that take several numbers and
    ``multi_words`` those that take several words."""

    class Command(TyperCommand):
        """A command with multi-value options, renamed flags and library defaults in its help."""

        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            return super().parse_args(ctx, expand_multi_values(rename_flags(args), multi_values, multi_words))

        def format_help(self, ctx: Any, formatter: Any) -> None:
            from ncse_cli import api

            values = api.defaults(defaults) if defaults is not None else {}
            for param in self.params:
                if param.default is None and values.get(param.name) not in (None, (), []):
                    param.show_default = _shown(values[param.name])
                if param.name in (choices or {}):
                    param.metavar = "[" + "|".join(api.choices(choices[param.name])) + "]"
            super().format_help(ctx, formatter)

    return Command
