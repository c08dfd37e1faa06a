"""What every command shares: consoles, one-line user errors, logging through rich."""

from __future__ import annotations

import functools
import logging
from typing import Callable, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from ncse_cli.errors import NcseError

F = TypeVar("F", bound=Callable)

console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print one red error line and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code=1)


def user_errors(func: F) -> F:
    """Decorator for command bodies: an :class:`NcseError` becomes one red line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except NcseError as err:
            raise fail(str(err)) from None

    return wrapper  # type: ignore[return-value]


def setup_logging(verbose: bool = False) -> None:
    """Route the library's ``ncse`` logger (notices such as 'stereo mixed down') to stderr through rich."""
    logger = logging.getLogger("ncse")
    logger.handlers[:] = [RichHandler(console=err_console, show_time=False, show_path=False, markup=False)]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
