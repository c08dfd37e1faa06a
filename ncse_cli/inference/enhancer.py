"""The enhancement use case behind ``ncse enhance`` and ``ncse evaluate``: a trained model and its sampler, loaded
once, enhancing audio files into an output folder.

One file's way through it:

1. :meth:`Enhancer.load` reads the model directory once: ``config.yaml`` (the model, and the sampler it was saved
   with, whose steps ``settings.steps`` may replace) and the weights (hashed as they are read), onto the device.
2. :meth:`Enhancer.run` refuses an output folder that holds outputs of other settings
   (:mod:`~ncse_cli.inference.outputs`), reads every pending input once so that a bad file stops the run before
   anything is written, and records the settings in the folder;
3. groups the pending jobs into batches of equal shapes and reads them at the model's sample rate
   (:mod:`~ncse_cli.inference.batches`);
4. enhances each batch (:func:`ncse_cli.enhancement.enhance_waveforms`: peak normalisation, STFT, encoding the
   reference once, the sampler with classifier-free guidance at ``settings.w``, inverse STFT), each utterance
   with its own generator;
5. writes each output at its input's sample rate and length, atomically; outputs that exist are skipped, so an
   interrupted run continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ncse_cli.audio import load_audio
from ncse_cli.config import ConfigError, from_dict, to_dict
from ncse_cli.device import resolve_device
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.inference.batches import at_rate, load_batch, plan_batches, utterance_generator
from ncse_cli.inference.jobs import EnhanceInputs, EnhanceJob, resolve_inputs
from ncse_cli.inference.outputs import check_record, pending, write_output, write_record
from ncse_cli.inference.settings import EnhanceError, EnhanceSettings
from ncse_cli.model import ScoreModel
from ncse_cli.model_dir import CONFIG_FILE, model_from_files, read_model_files
from ncse_cli.precision import resolve_precision
from ncse_cli.progress import Progress, Task, open_task
from ncse_cli.sampling import SAMPLERS, check_sampler
from ncse_cli.workspace import Workspace

log = logging.getLogger("ncse")


@dataclass
class EnhanceReport:
    """What one run did: files written, skipped because they existed, enhanced without a reference."""

    model: str
    kind: str  #: the input was a "file", "folder" or "manifest"
    out_dir: Path
    total: int = 0
    written: int = 0
    skipped: int = 0
    unconditional: int = 0
    audio_seconds: float = 0.0  #: duration of the audio written
    seconds: float = 0.0  #: wall-clock time spent

    @property
    def real_time_factor(self) -> float:
        """Processing time per second of audio (NaN when nothing was written)."""
        return self.seconds / self.audio_seconds if self.audio_seconds else float("nan")


def saved_sampler(config: Mapping[str, Any], steps: int | None, where: Path, name: str | None = None) -> Any:
    """The sampler config saved with a model (its ``sampler:`` section; default pc), or the sampler ``name`` with
    its defaults; ``steps`` replaced."""
    data = name or config.get("sampler") or "pc"
    options = {"name": data} if isinstance(data, str) else dict(data)
    try:
        sampler = from_dict(SAMPLERS.get(options.pop("name", "pc")).Config, options, "sampler")
    except (ConfigError, KeyError) as err:
        raise EnhanceError(f"{where}: {err}") from None
    return sampler if steps is None else dataclasses.replace(sampler, steps=steps)


class Enhancer:
    """A loaded model with its sampler and settings; :meth:`run` enhances inputs into their output folder."""

    def __init__(self, model: ScoreModel, sampler: Any, settings: EnhanceSettings, *, directory: Path,
                 weights_sha256: str, checked: set[Path] | None = None) -> None:
        self.model, self.sampler, self.settings = model, sampler, settings
        self.precision = resolve_precision(settings.precision, next(model.parameters()).device)
        self.directory, self.weights_sha256 = Path(directory), weights_sha256
        self.checked = set() if checked is None else checked  #: inputs already read and found usable

    @property
    def name(self) -> str:
        """The model's name (its directory's)."""
        return self.directory.name

    @classmethod
    def load(cls, directory: Path, settings: EnhanceSettings = EnhanceSettings()) -> "Enhancer":
        """Load the model of ``directory`` onto ``settings.device``, reading each of its files once."""
        device = resolve_device(settings.device)  # a bad --device or --precision fails before anything is read
        resolve_precision(settings.precision, device)
        files = read_model_files(directory)
        sampler = saved_sampler(files.config, settings.steps, directory / CONFIG_FILE, settings.sampler)
        try:
            check_sampler(sampler, files.model_config.sde, str(directory / CONFIG_FILE))
        except ConfigError as err:
            raise EnhanceError(str(err)) from None
        return cls(model_from_files(files, device), sampler, settings, directory=directory,
                   weights_sha256=files.sha256)

    def with_w(self, w: float) -> "Enhancer":
        """The same loaded model at guidance scale ``w``."""
        return self.with_settings(w=w)

    def with_settings(self, **changes: Any) -> "Enhancer":
        """The same loaded model with some settings replaced (``w``, ``seed``: what needs no reload)."""
        return Enhancer(self.model, self.sampler, dataclasses.replace(self.settings, **changes),
                        directory=self.directory, weights_sha256=self.weights_sha256, checked=self.checked)

    @property
    def conditional(self) -> bool:
        """False for an unconditioned model (encoder ``none``), which ignores noise references."""
        return self.model.conditional

    def record(self) -> dict[str, Any]:
        """What an output depends on besides its input: the weights, the guidance scale, the sampler, the seed, the
        precision."""
        return {"model_sha256": self.weights_sha256, "w": self.settings.w, "sampler": to_dict(self.sampler),
                "seed": self.settings.seed, "precision": self.precision}

    def check(self, noisy: Iterable[Path], refs: Iterable[Path] = (), task: Task | None = None) -> None:
        """Read every input (and reference, for a conditioned model) not read before, so that a missing, corrupt,
        empty, too short or NaN file is reported by name before anything is enhanced or written."""
        paths = [*noisy, *(refs if self.conditional else ())]
        paths = [p for p in dict.fromkeys(paths) if p not in self.checked]
        rate, min_samples = self.model.cfg.sample_rate, self.model.cfg.stft.n_fft
        if task is not None:
            task(0, len(paths))  # nothing to read (a finished re-run) is a complete task, not an endless one
        for done, path in enumerate(paths, start=1):
            at_rate(path, load_audio(path), rate, min_samples)
            self.checked.add(path)
            if task is not None:
                task(done, len(paths))

    def run(self, inputs: EnhanceInputs, progress: Progress | None = None) -> EnhanceReport:
        """Enhance every job of ``inputs`` whose output does not exist yet (see the module docstring)."""
        start = time.perf_counter()
        record = {**self.record(), **inputs.record()}
        recorded = check_record(inputs.out_dir, record)
        todo = pending(inputs.jobs)
        self.check([job.noisy for job in todo], [job.noise_ref for job in todo if job.noise_ref is not None],
                   open_task(progress, f"check {inputs.label}"))
        if not recorded:
            write_record(inputs.out_dir, record)
        _say_how_references_are_used(self.conditional, inputs)
        report = EnhanceReport(self.name, inputs.kind, inputs.out_dir, len(inputs.jobs),
                               skipped=len(inputs.jobs) - len(todo))
        task = open_task(progress, f"enhance {inputs.label}")
        task(report.skipped, report.total)
        for jobs in plan_batches(todo, self.settings.batch_size, self.conditional):
            self._enhance_batch(jobs, report)
            task(report.skipped + report.written, report.total)
        report.seconds = time.perf_counter() - start
        return report

    def _enhance_batch(self, jobs: list[EnhanceJob], report: EnhanceReport) -> None:
        """Enhance and write one batch, counting it in ``report``."""
        rate = self.model.cfg.sample_rate
        batch = load_batch(jobs, rate, self.model.cfg.stft.n_fft, self.conditional)
        generators = [utterance_generator(self.settings.seed, job.id) for job in jobs]
        # without a reference a conditioned model runs its null-condition (unconditional) branch alone
        result = enhance_waveforms(self.model, batch.noisy, batch.noise_ref, w=self.settings.w,
                                   sampler=self.sampler, generator=generators, precision=self.precision)
        for job, original, wave in zip(jobs, batch.originals, result.waveform.cpu().numpy()):
            write_output(job, wave, rate, original)
            report.audio_seconds += original.seconds
        report.written += len(jobs)
        report.unconditional += len(jobs) if batch.noise_ref is None else 0


def _say_how_references_are_used(conditional: bool, inputs: EnhanceInputs) -> None:
    """One line saying how the noise references are used (or why they are not)."""
    missing, total = inputs.without_reference, len(inputs.jobs)
    if not conditional:
        if inputs.noise_ref is not None or missing < total:
            log.info("unconditioned model (encoder none): noise references ignored")
    elif missing == total:
        log.info("no noise reference given: enhancing unconditionally")
    elif missing:
        log.info("%d of %d inputs have no noise reference: enhanced unconditionally", missing, total)


def enhance_files(workspace: Workspace, model: str, source: str | os.PathLike, out_dir: str | os.PathLike, *,
                  noise_ref: str | os.PathLike | None = None, settings: EnhanceSettings = EnhanceSettings(),
                  progress: Progress | None = None) -> EnhanceReport:
    """``ncse enhance``: the noisy files of ``source`` (a file, a folder or a manifest) into ``out_dir`` with the
    workspace's model ``model`` (a name or a model directory); ``noise_ref`` replaces every reference."""
    inputs = resolve_inputs(source, out_dir, noise_ref)
    return Enhancer.load(workspace.resolve(model), settings).run(inputs, progress)
