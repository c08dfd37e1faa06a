"""The report: test-set kinds, grouping into the comparison table, cell formatting, an empty workspace."""

import math

import pytest

from ncse_cli import api
from ncse_cli.data.manifest import read_manifest, write_manifest
from ncse_cli.evaluation import load_testset
from ncse_cli.evaluation.run import score_noisy
from ncse_cli.evaluation.testsets import manifest_kind
from ncse_cli.metrics import MetricSummary
from ncse_cli.evaluation.results import NOISY_SCORES_FILE
from ncse_cli.evaluation.scoring import read_scores
from ncse_cli.report import ReportError, build, build_report
from ncse_cli.report.tables import format_summary, markdown_table
from ncse_cli.workspace import Workspace
from tests.dummies import make_manifest


def manifest_of(tmp_path, name, corpus=None):
    path = make_manifest(tmp_path / name, count=2, seconds=1.0, name=name, split="test")
    if corpus is not None:
        manifest = read_manifest(path)
        for row in manifest.rows:
            row.extra["corpus"] = corpus
        write_manifest(path, manifest.rows)
    return path


@pytest.mark.parametrize("name,corpus,kind", [("test", "demo", "demo"), ("x", "esc50", "ood"),
                                              ("esc50_snr0", None, "ood"), ("vbdemand_test", None, "in-distribution"),
                                              ("nonstationary_snr5", None, "non-stationary"),
                                              ("y", "nonstationary", "non-stationary"), ("mine", None, "other")])
def test_manifest_kind_comes_from_rows_then_name(tmp_path, name, corpus, kind):
    assert manifest_kind(read_manifest(manifest_of(tmp_path, name, corpus))) == kind


def test_comparison_groups_test_sets_by_kind(tmp_path):
    ws = Workspace(tmp_path / "ws")
    for name, corpus in (("esc50_snr0", None), ("esc50_snr5", None), ("test", "demo")):
        score_noisy(ws, *load_testset(manifest_of(tmp_path, name, corpus)), metrics=("pesq",))
    report = build_report(ws)
    table = report.markdown[report.markdown.index("## Comparison summary"):]
    assert "| Method | OOD PESQ | Demo PESQ | Notes |" in table
    assert "OOD: esc50_snr0, esc50_snr5; Demo: test" in table
    noisy = {t.name: report.data.noisy[t.id].metrics["pesq"].mean for t in report.data.testsets}
    ood = (noisy["esc50_snr0"] + noisy["esc50_snr5"]) / 2  # the mean of the per-test-set means
    assert f"| Noisy input | {ood:.2f} | {noisy['test']:.2f} |" in table
    assert [t.kind for t in report.data.testsets] == ["ood", "ood", "demo"]


def test_cells_show_mean_interval_and_missing_count():
    assert format_summary(MetricSummary(1.234, 0.05, 8, 0), "pesq") == "1.23 ± 0.05"
    assert format_summary(MetricSummary(1.234, 0.05, 8, 2), "pesq", ci=False) == "1.23 (2 missing)"
    assert format_summary(MetricSummary(-3.21, math.nan, 1, 0), "si_sdr") == "-3.2"
    assert format_summary(None, "estoi") == "–"
    assert markdown_table(["a", "b"], [["x|y", "1"]]) == "| a | b |\n| --- | --- |\n| x\\|y | 1 |"


def test_an_empty_workspace_says_what_to_do_and_out_is_written(tmp_path):
    out = tmp_path / "report.md"
    result = api.report(out=out, workdir=tmp_path / "nothing")
    assert "Nothing evaluated yet" in result.markdown and out.read_text() == result.markdown


def test_out_writes_bars_per_noise_type_beside_the_report_and_an_html_page(tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "ws")
    kinds = make_manifest(tmp_path, count=4, kinds=("white", "pink"), name="kinds", split="test")
    score_noisy(ws, *load_testset(kinds), metrics=("si_sdr",))
    score_noisy(ws, *load_testset(make_manifest(tmp_path, count=2, name="one", split="test")), metrics=("si_sdr",))
    drawn = []
    draw = build.plot_group_bars
    monkeypatch.setattr(build, "plot_group_bars", lambda points, *a: drawn.append(points) or draw(points, *a))
    out = tmp_path / "out" / "report.md"
    result = api.report(out=out, summary_metrics=("si_sdr",), workdir=ws.root)
    (figure,) = result.figures  # the test set of one noise type has none
    assert figure.parent == out.parent and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"![{figure.stem}]({figure.name})" in out.read_text() == result.markdown
    assert out.with_suffix(".html").read_text().count("data:image/png;base64") == 1
    scores = read_scores(ws.testset_dir(load_testset(kinds)[0].id) / NOISY_SCORES_FILE)
    means = scores.groupby("noise_type")["si_sdr"].mean()
    assert {(p.series, p.x): p.mean for p in drawn[0]} == pytest.approx(
        {("Noisy input", kind): means[kind] for kind in ("pink", "white")})
    assert "## SI-SDR per noise type" in result.markdown
    assert "per noise type" not in api.report(workdir=ws.root).markdown  # printed only: no figures


def test_out_that_is_a_folder_or_under_a_file_is_refused(tmp_path):
    with pytest.raises(ReportError, match="is a folder"):
        api.report(out=tmp_path, workdir=tmp_path / "ws")
    (tmp_path / "file.md").write_text("kept")
    with pytest.raises(ReportError, match="file.md: not a folder"):
        api.report(out=tmp_path / "file.md" / "report.md", workdir=tmp_path / "ws")
    assert (tmp_path / "file.md").read_text() == "kept" and not list(tmp_path.glob(".*tmp"))
