"""``ncse prepare ...``: build manifests from the built-in demo corpus and from real corpora."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ncse_cli.cli._common import console, user_errors
from ncse_cli.cli._progress import task_bars
from ncse_cli.cli.multivalue import multi_value_command
from ncse_cli.data.nonstationary import NONSTATIONARY_KINDS
from ncse_cli.data.prepare import (DemoConfig, PrepareResult, prepare_demo, prepare_nonstationary, prepare_ood,
                                   prepare_vbdemand)

app = typer.Typer(help="Prepare data: write JSONL manifests (and mixtures) for training and evaluation.",
                  no_args_is_help=True, rich_markup_mode="rich")


class SnrMethod(str, Enum):
    """Choices of ``--snr-method``."""

    power = "power"
    active = "active"


class RefSource(str, Enum):
    """Choices of ``--ref-source``."""

    same = "same"
    other = "other"
    oracle = "oracle"


Out = Annotated[Path, typer.Option("--out", help="Output folder for the manifests and their audio.")]
Seed = Annotated[int, typer.Option(help="Seed for every random choice (same seed, same bytes).")]
Jobs = Annotated[int, typer.Option(min=1, help="Worker processes.")]
Overwrite = Annotated[bool, typer.Option(help="Rebuild when the folder was prepared with other options.")]
RefSeconds = Annotated[float, typer.Option(help="Length of each noise reference in seconds.")]
SampleRate = Annotated[int, typer.Option(help="Sample rate of the written audio (Hz).")]
Method = Annotated[SnrMethod, typer.Option(help="SNR definition: plain power, or ITU-T P.56 active speech level.")]
Clean = Annotated[Path, typer.Option(help="Clean speech: a manifest (its clean column) or a folder of WAV files.")]
Snrs = Annotated[Optional[list[float]], typer.Option(
    "--snr", help="SNRs in dB, several after one flag: --snr 0 5 10 \\[default: 0 5 10].")]
MaxUtterances = Annotated[Optional[int], typer.Option(min=1, help="Use only the first N clean utterances.")]


def render_summary(result: PrepareResult) -> None:
    """A table of the manifests written, then skipped items, notices and where the configuration is stored."""
    table = Table(title=f"ncse prepare {result.recipe} -> {escape(str(result.out_dir))}")
    for column in ("manifest", "rows", "written", "reused", "skipped", "audio"):
        table.add_column(column, justify="left" if column == "manifest" else "right")
    for m in result.manifests:
        table.add_row(f"{m.name}.jsonl", str(m.rows), str(m.written), str(m.reused), str(m.skipped),
                      f"{m.seconds / 60:.1f} min" if m.seconds >= 60 else f"{m.seconds:.1f} s")
    console.print(table)
    for manifest, key, reason in result.skipped[:5]:
        console.print(f"[yellow]skipped[/] {escape(manifest)}/{escape(key)}: {escape(reason)}")
    if len(result.skipped) > 5:
        console.print(f"[yellow]... and {len(result.skipped) - 5} more skipped (see {escape(str(result.config_path))})")
    for notice, count in sorted(result.notices.items()):
        console.print(f"[dim]note[/] {count} file(s): {escape(notice)}")
    state = "up to date, nothing to do" if result.up_to_date else f"done in {result.elapsed:.1f} s"
    console.print(f"{state}; configuration in {escape(str(result.config_path))}")


def _names(values: Optional[list[str]]) -> tuple[str, ...]:
    """Repeated options and comma-separated lists alike: ``--x a,b --x c -> (a, b, c)``."""
    return tuple(v.strip() for value in values or [] for v in value.split(",") if v.strip())


@app.command()
@user_errors
def demo(out: Out, seed: Seed = 0,
         train: Annotated[int, typer.Option(min=1, help="Training utterances.")] = DemoConfig.num_train,
         valid: Annotated[int, typer.Option(min=1, help="Validation utterances.")] = DemoConfig.num_valid,
         test: Annotated[int, typer.Option(min=1, help="Test utterances.")] = DemoConfig.num_test,
         seconds: Annotated[float, typer.Option(help="Length of each utterance in seconds.")] = DemoConfig.seconds,
         ref_seconds: RefSeconds = DemoConfig.ref_seconds, jobs: Jobs = 1, overwrite: Overwrite = False) -> None:
    """The built-in synthetic corpus (no download): train.jsonl, valid.jsonl and test.jsonl at 16 kHz."""
    cfg = DemoConfig(num_train=train, num_valid=valid, num_test=test, seconds=seconds, ref_seconds=ref_seconds)
    with task_bars() as progress:
        result = prepare_demo(out, seed, config=cfg, jobs=jobs, progress=progress, overwrite=overwrite)
    render_summary(result)


@app.command()
@user_errors
def vbdemand(root: Annotated[Path, typer.Option(help="VoiceBank-DEMAND folder in its official layout.")],
             out: Out, ref_seconds: RefSeconds = 0.25,
             ref_source: Annotated[RefSource, typer.Option(
                 help="same: non-overlapping part of the utterance's own noise; other: another utterance with "
                      "the same noise type; oracle: an overlapping crop (marked).")] = RefSource.same,
             valid_speaker: Annotated[Optional[list[str]], typer.Option(
                 help="Training speakers held out for validation \\[default: p226, p287].")] = None,
             sample_rate: SampleRate = 16000, snr_method: Method = SnrMethod.power, seed: Seed = 0,
             jobs: Jobs = 1, overwrite: Overwrite = False) -> None:
    """VoiceBank-DEMAND resampled to 16 kHz with a noise reference per utterance (vbdemand_{train,valid,test})."""
    speakers = _names(valid_speaker) or ("p226", "p287")
    with task_bars() as progress:
        result = prepare_vbdemand(root, out, ref_seconds=ref_seconds, ref_source=ref_source.value,
                                  valid_speakers=speakers, sample_rate=sample_rate, snr_method=snr_method.value,
                                  seed=seed, jobs=jobs, progress=progress, overwrite=overwrite)
    render_summary(result)


@app.command(cls=multi_value_command("--snr", "--esc50-fold", "--urbansound-fold"))
@user_errors
def ood(clean: Clean, out: Out,
        esc50: Annotated[Optional[Path], typer.Option(help="ESC-50 folder (meta/esc50.csv, audio/).")] = None,
        urbansound: Annotated[Optional[Path], typer.Option(
            help="UrbanSound8K folder (metadata/UrbanSound8K.csv, audio/fold1..10).")] = None,
        snr: Snrs = None,
        esc50_category: Annotated[Optional[list[str]], typer.Option(
            help="ESC-50 categories to use (repeat or comma-separate) \\[default: all].")] = None,
        esc50_fold: Annotated[Optional[list[int]], typer.Option(help="ESC-50 folds, e.g. 5 \\[default: all].")] = None,
        urbansound_class: Annotated[Optional[list[str]], typer.Option(
            help="UrbanSound8K classes to use \\[default: all].")] = None,
        urbansound_fold: Annotated[Optional[list[int]], typer.Option(
            help="UrbanSound8K folds, e.g. 10 \\[default: all].")] = None,
        ref_seconds: RefSeconds = 0.25, sample_rate: SampleRate = 16000, snr_method: Method = SnrMethod.power,
        max_utterances: MaxUtterances = None, seed: Seed = 0, jobs: Jobs = 1, overwrite: Overwrite = False) -> None:
    """Out-of-distribution test sets: clean speech + ESC-50 / UrbanSound8K noise, one manifest per corpus and SNR."""
    with task_bars() as progress:
        result = prepare_ood(clean, out, esc50=esc50, urbansound=urbansound, snrs=snr or (0.0, 5.0, 10.0),
                             esc50_categories=_names(esc50_category), esc50_folds=esc50_fold or (),
                             urbansound_classes=_names(urbansound_class), urbansound_folds=urbansound_fold or (),
                             ref_seconds=ref_seconds, sample_rate=sample_rate, snr_method=snr_method.value,
                             max_utterances=max_utterances, seed=seed, jobs=jobs, progress=progress,
                             overwrite=overwrite)
    render_summary(result)


@app.command(cls=multi_value_command("--snr", "--esc50-fold"))
@user_errors
def nonstationary(clean: Clean, out: Out,
                  esc50: Annotated[Optional[Path], typer.Option(
                      help="ESC-50 folder: concat segments and sudden events \\[default: synthetic].")] = None,
                  demand: Annotated[Optional[Path], typer.Option(help="DEMAND folder: backgrounds.")] = None,
                  wham: Annotated[Optional[Path], typer.Option(help="WHAM! noise folder: backgrounds.")] = None,
                  kind: Annotated[Optional[list[str]], typer.Option(
                      help=f"Process kinds ({', '.join(NONSTATIONARY_KINDS.names())}) \\[default: all].")] = None,
                  snr: Snrs = None,
                  esc50_fold: Annotated[Optional[list[int]], typer.Option(
                      help="ESC-50 folds \\[default: all].")] = None,
                  ref_seconds: RefSeconds = 0.25, sample_rate: SampleRate = 16000,
                  snr_method: Method = SnrMethod.power, max_utterances: MaxUtterances = None, seed: Seed = 0,
                  jobs: Jobs = 1, overwrite: Overwrite = False) -> None:
    """Non-stationary test sets (concatenated noises, level ramps and steps, sudden events), one per SNR."""
    with task_bars() as progress:
        result = prepare_nonstationary(clean, out, esc50=esc50, demand=demand, wham=wham,
                                       kinds=_names(kind) or None, snrs=snr or (0.0, 5.0, 10.0),
                                       esc50_folds=esc50_fold or (), ref_seconds=ref_seconds,
                                       sample_rate=sample_rate, snr_method=snr_method.value,
                                       max_utterances=max_utterances, seed=seed, jobs=jobs, progress=progress,
                                       overwrite=overwrite)
    render_summary(result)
