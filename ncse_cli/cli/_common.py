"""What every command shares: consoles, one-line user errors, the options given, logging through rich."""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

F = TypeVar("F", bound=Callable)

console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print one red error line and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code=1)


def user_errors(func: F) -> F:
    """Decorator for command bodies: an :class:`ncse_cli.api.NcseError`, or a file system's ``OSError`` (a folder
    that is not writable, a full disk), becomes one red line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ncse_cli.api import NcseError

        try:
            return func(*args, **kwargs)
        except NcseError as err:
            raise fail(str(err)) from None
        except OSError as err:
            raise fail(os_error_line(err)) from None

    return wrapper  # type: ignore[return-value]


def os_error_line(err: OSError) -> str:
    """``<path>: <cause>`` for an ``OSError`` ('out/a.wav: No space left on device'), the cause in words."""
    cause = err.strerror or str(err) or type(err).__name__
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {cause}" if paths else cause


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (``None``: not given, so the library's default applies)."""
    return {key: value for key, value in options.items() if value is not None}


class WarnOnce(logging.Filter):
    """Drop a warning already shown: a file is read more than once (checked up front, then enhanced, then
    scored), and each read would repeat its notice ('2 channels mixed down to mono')."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def setup_logging(verbose: bool = False) -> None:
    """Route the library's ``ncse`` logger (notices such as 'stereo mixed down') to stderr through rich."""
    logger = logging.getLogger("ncse")
    handler = RichHandler(console=err_console, show_time=False, show_path=False, markup=False)
    handler.addFilter(WarnOnce())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
