"""The group report's figures on the miniature experiment (``conftest.py``): PNG files beside ``report.md``,
linked from it and inlined in the HTML page; the embedding diagnosis states the silhouette of the model's own
z_r; a model without encoder, a model that cannot be loaded and an enhanced file that is gone give no figure and
say why."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from ncse_cli.data.manifest import read_manifest
from ncse_cli.experiments import figures
from ncse_cli.experiments.figures import _chosen
from ncse_cli.experiments.machine import Machine
from ncse_cli.experiments.plan import build_plan
from ncse_cli.experiments.report import write_group_report
from ncse_cli.experiments.results import Results
from ncse_cli.model_dir import ModelDirError, load_model
from ncse_cli.report.embeddings import reference_embeddings, separation, silhouette
from ncse_cli.workspace import Workspace

#: one worker builds the session fixture these tests share (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("experiment-miniature")

FIGURES = {"embeddings_cnn_test.png", "guidance_test.png", "noise_types_test.png", "spectrogram_test_0.png",
           "spectrogram_test_1.png", "training_curves.png"}


def test_every_figure_is_a_png_beside_the_report_linked_from_it_and_inlined_in_the_page(finished):
    _, layout, _, result = finished
    report = result.report
    assert {f.name for f in report.figures} == FIGURES
    for figure in report.figures:
        assert figure.parent == layout.reports and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        rgb = (imread(figure)[..., :3] * 255).round().astype(np.uint32)
        assert rgb.shape[0] > 100 and len(np.unique(rgb @ np.array([1 << 16, 1 << 8, 1], np.uint32))) > 10  # drawn
        assert f"![{figure.stem}]({figure.name})" in report.markdown
    assert report.html.read_text().count("data:image/png;base64") == len(FIGURES)
    assert "PESQ of each experiment minus its comparison model per noise type, mini test" in report.markdown


def test_the_stated_silhouette_is_that_of_the_models_own_embeddings(finished, tmp_path, monkeypatch):
    spec, layout, _, result = finished
    model = load_model(Workspace(layout.runs).model_dir("cnn-s0"))
    embeddings = reference_embeddings(model, read_manifest(layout.data / "vb" / "test.jsonl"))
    expected = silhouette(embeddings.vectors, embeddings.noise_types)
    assert np.isfinite(expected) and sorted(set(embeddings.noise_types)) == ["pink", "white"]
    (diagnosis,) = [d for d in result.report.diagnoses if d.model == "cnn"]
    assert diagnosis.silhouette == pytest.approx(expected, abs=1e-9)
    assert (f"- **cnn**, mini test: silhouette **{expected:.2f}** over 3 references of 2 noise types: "
            f"{separation(expected)}.") in result.report.markdown
    titles = []
    draw = figures.plot_embedding_map
    monkeypatch.setattr(figures, "plot_embedding_map", lambda *a: titles.append(a[3]) or draw(*a))
    write_group_report(_elsewhere(spec, layout, tmp_path))
    assert titles == [f"cnn, mini test: silhouette {expected:.2f} (PCA)"]


def test_a_model_without_encoder_has_no_map_and_the_report_says_why(finished):
    _, layout, _, result = finished
    assert ("- **uncond**: no map: the model has no noise encoder (encoder none), so there is no z_r."
            in result.report.markdown)
    assert not list(layout.reports.glob("embeddings_uncond*"))


def test_a_figure_that_cannot_be_drawn_is_left_out_with_the_reason(finished, tmp_path, monkeypatch):
    spec, layout, _, _ = finished

    def unreadable(directory, device):
        raise ModelDirError(f"{directory}: model.safetensors is not a safetensors file")
    monkeypatch.setattr(figures, "load_model", unreadable)
    monkeypatch.setattr(Results, "enhanced_file", lambda self, *args: tmp_path / "gone.wav")
    report = write_group_report(_elsewhere(spec, layout, tmp_path / "report"))
    cnn = Workspace(layout.runs).model_dir("cnn-s0")
    assert f"- **cnn**: no map: {cnn}: model.safetensors is not a safetensors file." in report.markdown
    assert report.markdown.count(f"no figure ({tmp_path / 'gone.wav'}: no such audio file)") == 2
    assert {f.name for f in report.figures} == FIGURES - {"embeddings_cnn_test.png", "spectrogram_test_0.png",
                                                          "spectrogram_test_1.png"}
    assert sorted(p.name for p in (tmp_path / "report").glob("*.png")) == sorted(f.name for f in report.figures)


def test_spectrograms_show_the_utterances_gaining_most_and_least():
    mine = pd.DataFrame({"testset": "t", "id": list("vwxyz"), "pesq": [2.0, 2.0, 3.0, 1.0, 2.5]})
    theirs = mine.assign(pesq=[np.nan, 2.0, 2.0, 2.0, 2.0])
    assert _chosen(mine, theirs, "pesq", 2) == [("t", "x", 1.0), ("t", "y", -1.0)]
    assert _chosen(mine, theirs, "pesq", 3) == [("t", "x", 1.0), ("t", "w", 0.0), ("t", "y", -1.0)]
    assert _chosen(mine, None, "pesq", 2) == [("t", "v", None), ("t", "w", None)]


def _elsewhere(spec, layout, reports):
    """The finished plan with its report written to ``reports``."""
    plan = build_plan(spec, "demo", layout, Machine())
    return dataclasses.replace(plan, layout=dataclasses.replace(layout, reports=reports))
