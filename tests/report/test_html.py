"""The HTML page: tables rendered, figures inlined byte for byte, nothing fetched from elsewhere."""

import base64
import re

import pytest

from ncse_cli.report import ReportError
from ncse_cli.report.html import render_html, write_html
from ncse_cli.report.figures import Estimate, plot_guidance
from ncse_cli.report.tables import markdown_table


def test_the_page_has_the_tables_and_the_figures_inlined(tmp_path):
    figure = plot_guidance([Estimate("m", w, 2.0, 1.9, 2.1) for w in (1.0, 3.0)], "pesq", tmp_path / "fig" / "g.png")
    text = "# Report\n\n" + markdown_table(["Model", "PESQ ↑"], [["m", "2.00 ± 0.10"]]) + "\n\n![guidance](fig/g.png)\n"
    report = tmp_path / "report.md"
    report.write_text(text, encoding="utf-8")
    page = write_html(report).read_text(encoding="utf-8")
    assert "<th>PESQ ↑</th>" in page and "<td>2.00 ± 0.10</td>" in page and "<h1>Report</h1>" in page
    inlined = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(inlined) == figure.read_bytes()
    assert "fig/g.png" not in page and (tmp_path / "report.html").is_file()
    assert "<td>x|y</td>" in render_html(markdown_table(["a"], [["x|y"]]), tmp_path)  # an escaped pipe is a pipe


def test_remote_images_stay_and_missing_figures_are_named(tmp_path):
    assert 'src="https://example.org/x.png"' in render_html("![x](https://example.org/x.png)", tmp_path)
    with pytest.raises(ReportError, match="missing.png: the report links this figure, but it does not exist"):
        render_html("![x](missing.png)", tmp_path)
