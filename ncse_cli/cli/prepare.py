"""``ncse prepare ...``: build manifests from the built-in demo corpus and from real corpora.

Every option is named like the keyword argument of ``ncse_cli.data.prepare.prepare_<recipe>`` it sets, and is
``None`` when not given, so the defaults live in the library alone (``--help`` shows them from there).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ncse_cli.cli._command import command
from ncse_cli.cli._common import console, given, user_errors
from ncse_cli.cli._options import ShowProgress
from ncse_cli.cli._progress import task_bars

if TYPE_CHECKING:
    from ncse_cli.api import PrepareResult

app = typer.Typer(help="Prepare data: write JSONL manifests (and mixtures) for training and evaluation.",
                  no_args_is_help=True, rich_markup_mode="rich")

OutDir = Annotated[Path, typer.Option("--out", help="Output folder for the manifests and their audio.")]
Seed = Annotated[Optional[int], typer.Option(help="Seed for every random choice (same seed, same bytes).")]
Jobs = Annotated[Optional[int], typer.Option(min=1, help="Worker processes.")]
Overwrite = Annotated[bool, typer.Option(help="Rebuild when the folder was prepared with other options.")]
RefSeconds = Annotated[Optional[float], typer.Option(help="Length of each noise reference in seconds.")]
SampleRate = Annotated[Optional[int], typer.Option(help="Sample rate of the written audio (Hz).")]
SnrMethod = Annotated[Optional[str], typer.Option(help="SNR definition: plain power, or ITU-T P.56 active speech "
                                                  "level.")]
Clean = Annotated[Path, typer.Option(help="Clean speech: a manifest (its clean column) or a folder of WAV files.")]
Snrs = Annotated[Optional[list[float]], typer.Option("--snr", help="SNRs in dB, several after one flag: --snr 0 5 10.")]
MaxUtterances = Annotated[Optional[int], typer.Option(min=1, help="Use only the first N clean utterances.")]
AutoRefSource = Annotated[Optional[str], typer.Option(
    "--ref-source", metavar="[auto]", help="auto: also write <manifest>_auto.jsonl beside each manifest, the same "
    "rows with references cut from each mixture's own pauses (as evaluate --reference auto), to compare with the "
    "true ones.")]
CHOICES = {"snr_method": "snr_method", "kinds": "nonstationary"}


def _prepare(recipe: str, out_dir: Path, jobs: int | None, overwrite: bool, progress: bool, **options: Any) -> None:
    """Run the recipe with the options given, under progress bars (unless ``progress`` is off), and print what it
    wrote."""
    from ncse_cli import api

    with task_bars(progress) as bars:
        result = api.prepare(recipe, out_dir, overwrite=overwrite, progress=bars, **given(jobs=jobs, **options))
    render_summary(result)


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


def _names(values: Optional[list[str]]) -> tuple[str, ...] | None:
    """Repeated options and comma-separated lists alike: ``--x a,b --x c -> (a, b, c)``; ``None`` if not given."""
    if not values:
        return None
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


@app.command(cls=command(defaults="prepare demo"))
@user_errors
def demo(out_dir: OutDir, seed: Seed = None,
         num_train: Annotated[Optional[int], typer.Option("--train", min=1, help="Training utterances.")] = None,
         num_valid: Annotated[Optional[int], typer.Option("--valid", min=1, help="Validation utterances.")] = None,
         num_test: Annotated[Optional[int], typer.Option("--test", min=1, help="Test utterances.")] = None,
         seconds: Annotated[Optional[float], typer.Option(help="Length of each utterance in seconds.")] = None,
         ref_seconds: RefSeconds = None, ref_source: AutoRefSource = None,
         noise_kinds: Annotated[Optional[list[str]], typer.Option(
             "--kind", help="Synthetic noise kinds of every split (repeat or comma-separate) \\[default: tones, band, "
                            "babble, pink]; "
                            "the others can then serve as out-of-distribution noise (prepare ood --synthetic).")] = None,
         jobs: Jobs = None, overwrite: Overwrite = False,
         progress: ShowProgress = True) -> None:
    """The built-in synthetic corpus (no download): train.jsonl, valid.jsonl and test.jsonl at 16 kHz."""
    _prepare("demo", out_dir, jobs, overwrite, progress, seed=seed, num_train=num_train, num_valid=num_valid,
             num_test=num_test, seconds=seconds, ref_seconds=ref_seconds, noise_kinds=_names(noise_kinds),
             ref_source=ref_source)


@app.command(cls=command(defaults="prepare vbdemand", choices={**CHOICES, "ref_source": "ref_source"}))
@user_errors
def vbdemand(root: Annotated[Path, typer.Option(help="VoiceBank-DEMAND folder in its official layout.")],
             out_dir: OutDir, ref_seconds: RefSeconds = None,
             ref_source: Annotated[Optional[str], typer.Option(
                 help="same: non-overlapping part of the utterance's own noise; other: another utterance with "
                      "the same noise type; oracle: an overlapping crop (marked); auto: same, and beside each "
                      "manifest <manifest>_auto.jsonl with references cut from each mixture's own pauses.")] = None,
             valid_speakers: Annotated[Optional[list[str]], typer.Option(
                 "--valid-speaker", help="Training speakers held out for validation (repeat or comma-separate).")] = None,
             sample_rate: SampleRate = None, snr_method: SnrMethod = None, seed: Seed = None,
             jobs: Jobs = None, overwrite: Overwrite = False,
             progress: ShowProgress = True) -> None:
    """VoiceBank-DEMAND resampled to 16 kHz with a noise reference per utterance (vbdemand_{train,valid,test})."""
    _prepare("vbdemand", out_dir, jobs, overwrite, progress, root=root, ref_seconds=ref_seconds, ref_source=ref_source,
             valid_speakers=_names(valid_speakers), sample_rate=sample_rate, snr_method=snr_method, seed=seed)


@app.command(cls=command(defaults="prepare ood", choices=CHOICES,
                         multi_values=("--snr", "--esc50-fold", "--urbansound-fold")))
@user_errors
def ood(clean: Clean, out_dir: OutDir,
        esc50: Annotated[Optional[Path], typer.Option(help="ESC-50 folder (meta/esc50.csv, audio/).")] = None,
        urbansound: Annotated[Optional[Path], typer.Option(
            help="UrbanSound8K folder (metadata/UrbanSound8K.csv, audio/fold1..10).")] = None,
        synthetic: Annotated[Optional[list[str]], typer.Option(
            help="Synthetic noise kinds as a noise corpus (repeat or comma-separate), e.g. kinds held out of a "
                 "demo corpus's training (prepare demo --kind).")] = None,
        snrs: Snrs = None,
        esc50_categories: Annotated[Optional[list[str]], typer.Option(
            "--esc50-category", help="ESC-50 categories to use (repeat or comma-separate) \\[default: all].")] = None,
        esc50_folds: Annotated[Optional[list[int]], typer.Option(
            "--esc50-fold", help="ESC-50 folds, e.g. 5 \\[default: all].")] = None,
        urbansound_classes: Annotated[Optional[list[str]], typer.Option(
            "--urbansound-class", help="UrbanSound8K classes to use \\[default: all].")] = None,
        urbansound_folds: Annotated[Optional[list[int]], typer.Option(
            "--urbansound-fold", help="UrbanSound8K folds, e.g. 10 \\[default: all].")] = None,
        ref_seconds: RefSeconds = None, ref_source: AutoRefSource = None, sample_rate: SampleRate = None,
        snr_method: SnrMethod = None, max_utterances: MaxUtterances = None, seed: Seed = None, jobs: Jobs = None,
        overwrite: Overwrite = False,
        progress: ShowProgress = True) -> None:
    """Out-of-distribution test sets: clean speech + ESC-50 / UrbanSound8K (or synthetic) noise, one manifest per
    corpus and SNR."""
    _prepare("ood", out_dir, jobs, overwrite, progress, clean=clean, esc50=esc50, urbansound=urbansound,
             synthetic=_names(synthetic), snrs=snrs,
             esc50_categories=_names(esc50_categories), esc50_folds=esc50_folds,
             urbansound_classes=_names(urbansound_classes), urbansound_folds=urbansound_folds,
             ref_seconds=ref_seconds, ref_source=ref_source, sample_rate=sample_rate, snr_method=snr_method,
             max_utterances=max_utterances, seed=seed)


@app.command(cls=command(defaults="prepare nonstationary", choices=CHOICES, multi_values=("--snr", "--esc50-fold")))
@user_errors
def nonstationary(clean: Clean, out_dir: OutDir,
                  esc50: Annotated[Optional[Path], typer.Option(
                      help="ESC-50 folder: concat segments and sudden events \\[default: synthetic].")] = None,
                  demand: Annotated[Optional[Path], typer.Option(help="DEMAND folder: backgrounds.")] = None,
                  wham: Annotated[Optional[Path], typer.Option(help="WHAM! noise folder: backgrounds.")] = None,
                  kinds: Annotated[Optional[list[str]], typer.Option(
                      "--kind", help="Process kinds (repeat or comma-separate) \\[default: all].")] = None,
                  snrs: Snrs = None,
                  esc50_folds: Annotated[Optional[list[int]], typer.Option(
                      "--esc50-fold", help="ESC-50 folds \\[default: all].")] = None,
                  ref_seconds: RefSeconds = None, ref_source: AutoRefSource = None, sample_rate: SampleRate = None,
                  snr_method: SnrMethod = None, max_utterances: MaxUtterances = None, seed: Seed = None,
                  jobs: Jobs = None,
                  overwrite: Overwrite = False,
                  progress: ShowProgress = True) -> None:
    """Non-stationary test sets (concatenated noises, level ramps and steps, sudden events), one per SNR."""
    _prepare("nonstationary", out_dir, jobs, overwrite, progress, clean=clean, esc50=esc50, demand=demand, wham=wham,
             kinds=_names(kinds), snrs=snrs, esc50_folds=esc50_folds, ref_seconds=ref_seconds, ref_source=ref_source,
             sample_rate=sample_rate, snr_method=snr_method, max_utterances=max_utterances, seed=seed)
