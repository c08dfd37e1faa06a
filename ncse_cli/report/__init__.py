"""Reports: the research plan's markdown tables from the results stored in a workspace."""

from ncse_cli.report.build import Report, ReportData, build_report, collect

__all__ = ["Report", "ReportData", "build_report", "collect"]
