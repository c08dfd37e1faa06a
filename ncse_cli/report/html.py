"""The report as one self-contained HTML page beside ``report.md``.

The markdown is rendered with python-markdown (its ``tables`` extension reads the GitHub-style tables the report
writes); every local image it links (the PNG figures beside the report) is inlined as a ``data:`` URI, so the
page can be mailed or attached as one file and opened anywhere without the folder it came from.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import markdown

from ncse_cli.files import atomic_write_text
from ncse_cli.report.build import ReportError

IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)(")')

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""


def _inline(match: re.Match, base: Path) -> str:
    src = html.unescape(match.group(2))
    if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.IGNORECASE):  # http:, data:, ... stay as they are
        return match.group(0)
    path = base / src
    kind = IMAGE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ReportError(f"{path}: the report links this image, but only {', '.join(IMAGE_TYPES)} can be inlined")
    if not path.is_file():
        raise ReportError(f"{path}: the report links this figure, but it does not exist")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"{match.group(1)}data:{kind};base64,{data}{match.group(3)}"


def render_html(text: str, base: Path, title: str = "ncse report") -> str:
    """The HTML page of a markdown report whose image links are relative to ``base``."""
    body = markdown.markdown(text, extensions=["tables", "fenced_code"], output_format="html")
    body = _IMG_SRC.sub(lambda m: _inline(m, Path(base)), body)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def write_html(report: Path, out: Path | None = None) -> Path:
    """Write the page of the markdown report at ``report`` (default: the same name with ``.html``)."""
    report = Path(report)
    out = report.with_suffix(".html") if out is None else Path(out)
    atomic_write_text(out, render_html(report.read_text(encoding="utf-8"), report.parent))
    return out
