"""Reports: the research plan's markdown tables from the results stored in a workspace.

The names below are imported on first use (PEP 562), not with the package: ``ncse evaluate`` prints its summary
with :mod:`ncse_cli.report.tables` alone, and would otherwise import the report builder's figures and statistics
(matplotlib and SciPy, about 1.5 s) to print one table."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ncse_cli.report.build import Report, ReportData, ReportError, build_report, check_report_path, collect

__all__ = ["Report", "ReportData", "ReportError", "build_report", "check_report_path", "collect"]


def __getattr__(name: str):
    if name in __all__:
        value = globals()[name] = getattr(importlib.import_module("ncse_cli.report.build"), name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
