"""Reports: the research plan's markdown tables from the results stored in a workspace."""

from ncse_cli.report.build import Report, ReportData, ReportError, build_report, check_report_path, collect

__all__ = ["Report", "ReportData", "ReportError", "build_report", "check_report_path", "collect"]
