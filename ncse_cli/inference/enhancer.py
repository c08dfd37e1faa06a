"""The enhancement use case behind ``ncse enhance`` and ``ncse evaluate``: a trained model and its sampler, loaded
once, enhancing audio files into an output folder.

One file's way through it:

1. :meth:`Enhancer.load` reads the model directory once: ``config.yaml`` (the model, the sampler it was saved
   with, whose steps ``settings.steps`` may replace, and the reference and crop lengths it was trained with) and
   the weights (hashed as they are read), onto the device.
2. :meth:`Enhancer.run` refuses an output folder that holds outputs of other settings
   (:mod:`~ncse_cli.inference.outputs`), finds outputs that exist but were made from another input than today's
   (:mod:`~ncse_cli.inference.provenance`: enhanced again, or refused with ``on_changed="refuse"``), reads every
   pending input once so that a bad file stops the run before anything is written (a long one block by block),
   and records the settings in the folder;
3. finds each input's noise reference: its own (a manifest row's, or ``--noise-ref FILE``), else, for a
   conditioned model with ``--noise-ref auto``, one cut from its own pauses (:mod:`ncse_cli.auto_reference`,
   recorded beside the output), else none: the null condition;
4. groups the inputs within one window into batches of equal shapes, reads them at the model's sample rate
   (:mod:`~ncse_cli.inference.batches`) and enhances each batch (:func:`ncse_cli.enhancement.enhance_waveforms`:
   peak normalisation, STFT, encoding the reference once, the sampler with classifier-free guidance at
   ``settings.w``, inverse STFT), each utterance with its own generator;
5. enhances each longer input in cross-faded windows (:func:`ncse_cli.chunking.enhance_chunked`, one progress
   bar per file), read, resampled and written back block by block (:mod:`ncse_cli.audio_stream`), so memory
   does not grow with its length; a file within one window would come out exactly as whole;
6. records which input (and reference) each output is made from, then writes the output at its input's sample
   rate and length in ``settings.subtype``, atomically; outputs that exist and were made from today's inputs are
   skipped, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from ncse_cli.audio import audio_info, check_noise_reference, load_audio
from ncse_cli.audio_stream import AudioFileSignal, ResampledSignal, Sliceable, scan_audio, signal_peak
from ncse_cli.auto_reference import auto_reference
from ncse_cli.chunking import ChunkingConfig, enhance_chunked
from ncse_cli.config import ConfigError, from_dict, to_dict
from ncse_cli.device import resolve_device
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.inference.batches import at_rate, load_batch, plan_batches, utterance_generator
from ncse_cli.inference.jobs import EnhanceInputs, EnhanceJob, resolve_inputs
from ncse_cli.inference.outputs import (REFERENCE_RECORD_SUFFIX, check_record, write_output,
                                        write_output_blocks, write_record, write_reference_record)
from ncse_cli.inference.provenance import FileIdentities, InputLog, refuse_stale, remove_stale
from ncse_cli.inference.settings import EnhanceError, EnhanceSettings
from ncse_cli.model import ModelConfig, ScoreModel
from ncse_cli.model_dir import CONFIG_FILE, model_from_files, read_model_files
from ncse_cli.precision import resolve_precision
from ncse_cli.progress import Progress, Task, open_task
from ncse_cli.sampling import SAMPLERS, check_sampler
from ncse_cli.vad import detect_speech_blocks
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
    changed: int = 0  #: outputs that existed but were made from another input, enhanced again
    unconditional: int = 0  #: enhanced with the null condition (no reference, or no pause long enough for one)
    auto_references: int = 0  #: enhanced with a reference cut from their own pauses
    windowed: int = 0  #: longer than one window, so enhanced window by window
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


@dataclass(frozen=True)
class TrainedLengths:
    """What enhancement needs of how a model was trained: the length of its noise references (an automatic one is
    cut as long) and of its training crops (the default window of a long file is two of them)."""

    ref_seconds: float
    crop_seconds: float

    @classmethod
    def of(cls, config: Mapping[str, Any], model: ModelConfig) -> "TrainedLengths":
        """From a model directory's ``config.yaml``: its ``data.ref_seconds`` and ``train.crop_frames``; a model
        directory without those sections (an imported one) gets the defaults of ncse and SGMSE+."""
        data, train = config.get("data"), config.get("train")
        ref = data.get("ref_seconds") if isinstance(data, Mapping) else None
        frames = train.get("crop_frames") if isinstance(train, Mapping) else None
        # the defaults are imported only when needed: the data and training configs pull in the corpora (a
        # second of start-up), and every trained model directory has both sections
        if ref is None:
            from ncse_cli.data.config import DEFAULT_REF_SECONDS as ref
        if frames is None:
            from ncse_cli.training.config import TrainConfig

            frames = TrainConfig.crop_frames
        return cls(float(ref), frames * model.stft.hop_length / model.sample_rate)


class Enhancer:
    """A loaded model with its sampler and settings; :meth:`run` enhances inputs into their output folder."""

    def __init__(self, model: ScoreModel, sampler: Any, settings: EnhanceSettings, *, directory: Path,
                 weights_sha256: str, trained: TrainedLengths | None = None,
                 checked: set[Path] | None = None, identities: FileIdentities | None = None) -> None:
        self.model, self.sampler, self.settings = model, sampler, settings
        self.precision = resolve_precision(settings.precision, next(model.parameters()).device)
        self.directory, self.weights_sha256 = Path(directory), weights_sha256
        self.trained = TrainedLengths.of({}, model.cfg) if trained is None else trained
        self.chunking = ChunkingConfig(*settings.windows(trained.crop_seconds))
        self.checked = set() if checked is None else checked  #: inputs already read and found usable
        self.identities = FileIdentities() if identities is None else identities  #: inputs already hashed

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
        return cls(model_from_files(files, device).channels_last(), sampler, settings, directory=directory,
                   weights_sha256=files.sha256, trained=TrainedLengths.of(files.config, files.model_config))

    def with_w(self, w: float) -> "Enhancer":
        """The same loaded model at guidance scale ``w``."""
        return self.with_settings(w=w)

    def with_settings(self, **changes: Any) -> "Enhancer":
        """The same loaded model with some settings replaced (``w``, ``seed``: what needs no reload)."""
        return Enhancer(self.model, self.sampler, dataclasses.replace(self.settings, **changes),
                        directory=self.directory, weights_sha256=self.weights_sha256, trained=self.trained,
                        checked=self.checked, identities=self.identities)

    @property
    def conditional(self) -> bool:
        """False for an unconditioned model (encoder ``none``), which ignores noise references."""
        return self.model.conditional

    def record(self) -> dict[str, Any]:
        """What an output depends on besides its input: the weights, the guidance scale, the sampler, the seed, the
        precision, the windows of long files, the sample format."""
        window, overlap = self.chunking.window_seconds, self.chunking.overlap_seconds
        return {"model_sha256": self.weights_sha256, "w": self.settings.w, "sampler": to_dict(self.sampler),
                "seed": self.settings.seed, "precision": self.precision, "window": window, "overlap": overlap,
                "subtype": self.settings.subtype}

    def inputs_log(self, out_dir: Path) -> InputLog:
        """What the outputs of ``out_dir`` were made from (:mod:`ncse_cli.inference.provenance`)."""
        return InputLog(out_dir, self.identities, self.conditional)

    def is_long(self, path: Path) -> bool:
        """True for an audio file longer than one window at the model's rate (read from its header)."""
        if not path.is_file():
            return False  # reading it will say what is wrong
        file_rate, frames, _ = audio_info(path)
        rate = self.model.cfg.sample_rate
        return -(-frames * rate // file_rate) > self.chunking.samples(rate)[0]

    def check(self, noisy: Iterable[Path], refs: Iterable[Path] = (), task: Task | None = None) -> None:
        """Read every input (and reference, for a conditioned model) not read before, so that a missing, corrupt,
        cut short, empty, too short or NaN file, or a silent reference, is reported by name before anything is
        enhanced or written. A file longer than one window is read a block at a time."""
        references = set(refs) if self.conditional else set()
        paths = [p for p in dict.fromkeys([*noisy, *sorted(references)]) if p not in self.checked]
        rate, min_samples = self.model.cfg.sample_rate, self.model.cfg.stft.n_fft
        if task is not None:
            task(0, len(paths))  # nothing to read (a finished re-run) is a complete task, not an endless one
        for done, path in enumerate(paths, start=1):
            if self.is_long(path):
                scan_audio(path)
            else:
                audio = load_audio(path)
                at_rate(path, audio, rate, min_samples)
                if path in references:
                    check_noise_reference(path, audio)
            self.checked.add(path)
            if task is not None:
                task(done, len(paths))

    def run(self, inputs: EnhanceInputs, progress: Progress | None = None) -> EnhanceReport:
        """Enhance every job of ``inputs`` whose output does not exist yet or was made from another input (see the
        module docstring)."""
        start = time.perf_counter()
        record = {**self.record(), **inputs.record(self.conditional)}
        recorded = check_record(inputs.out_dir, record)
        made = self.inputs_log(inputs.out_dir)
        stale = made.stale(inputs.jobs)
        if self.settings.on_changed == "refuse":
            refuse_stale(stale)
        redo = {item.job for item in stale}
        todo = [job for job in inputs.jobs if job in redo or not job.out.is_file()]
        self.check([job.noisy for job in todo], [job.noise_ref for job in todo if job.noise_ref is not None],
                   open_task(progress, f"check {inputs.label}"))
        if not recorded:
            write_record(inputs.out_dir, record)
        remove_stale(stale)
        _say_how_references_are_used(self.conditional, inputs)
        self._say_if_band_limited(todo)
        report = EnhanceReport(self.name, inputs.kind, inputs.out_dir, len(inputs.jobs),
                               skipped=len(inputs.jobs) - len(todo), changed=len(stale))
        auto = self.conditional and inputs.reference == "auto"
        long = [job for job in todo if self.is_long(job.noisy)]
        task = open_task(progress, f"enhance {inputs.label}")
        task(report.skipped, report.total)
        for jobs in plan_batches([job for job in todo if job not in long], self.settings.batch_size,
                                 self.conditional):
            self._enhance_batch(jobs, report, auto, made)
            task(report.skipped + report.written, report.total)
        for job in long:
            self._enhance_long(job, report, auto, made, progress)
            task(report.skipped + report.written, report.total)
        report.seconds = time.perf_counter() - start
        return report

    def _enhance_batch(self, jobs: list[EnhanceJob], report: EnhanceReport, auto: bool, made: InputLog) -> None:
        """Enhance and write one batch, counting it in ``report`` and recording each output's input in ``made``;
        with ``auto``, jobs without a reference get one from their own pauses. Jobs with and without a reference
        are enhanced apart (equal shapes only batch)."""
        rate = self.model.cfg.sample_rate
        batch = load_batch(jobs, rate, self.model.cfg.stft.n_fft, self.conditional)
        refs: list[torch.Tensor | None] = (list(batch.noise_ref) if batch.noise_ref is not None else
                                           [self._auto_reference(job, wave.numpy(), report) if auto else None
                                            for job, wave in zip(jobs, batch.noisy)])
        waves: list[Any] = [None] * len(jobs)
        for rows in ([i for i, r in enumerate(refs) if r is not None], [i for i, r in enumerate(refs) if r is None]):
            if not rows:
                continue
            # without a reference a conditioned model runs its null-condition (unconditional) branch alone
            ref = None if refs[rows[0]] is None else torch.stack([refs[i] for i in rows])
            result = enhance_waveforms(self.model, batch.noisy[rows], ref, w=self.settings.w, sampler=self.sampler,
                                       generator=[utterance_generator(self.settings.seed, jobs[i].id) for i in rows],
                                       precision=self.precision)
            for i, wave in zip(rows, result.waveform.cpu().numpy()):
                waves[i] = wave
        for job, original, wave in zip(jobs, batch.originals, waves):
            made.write(job)
            write_output(job, wave, rate, original, self.settings.subtype)
            report.audio_seconds += original.seconds
        report.written += len(jobs)
        report.unconditional += sum(ref is None for ref in refs)

    def _enhance_long(self, job: EnhanceJob, report: EnhanceReport, auto: bool, made: InputLog,
                      progress: Progress | None) -> None:
        """Enhance and write one file longer than a window, window by window, never holding it whole: read from
        the file and resampled a window at a time, written back a block at a time."""
        rate = self.model.cfg.sample_rate
        with AudioFileSignal(job.noisy) as source:
            signal = source if source.sample_rate == rate else ResampledSignal(source, source.sample_rate, rate)
            if job.noise_ref is not None and self.conditional:
                ref = at_rate(job.noise_ref, load_audio(job.noise_ref), rate, self.model.cfg.stft.n_fft)
            else:
                ref = self._auto_reference(job, signal, report) if auto else None
            blocks = enhance_chunked(self.model, signal, ref, chunking=self.chunking, peak=signal_peak(signal),
                                     w=self.settings.w, sampler=self.sampler,
                                     generator=utterance_generator(self.settings.seed, job.id),
                                     precision=self.precision, progress=open_task(progress, f"enhance {job.id}"))
            made.write(job)
            write_output_blocks(job, blocks, len(signal), rate, source.sample_rate, len(source), self.settings.subtype)
            report.audio_seconds += len(source) / source.sample_rate
        report.written += 1
        report.windowed += 1
        report.unconditional += ref is None

    def _auto_reference(self, job: EnhanceJob, signal: Sliceable, report: EnhanceReport) -> torch.Tensor | None:
        """A reference of the trained length cut from the pauses of ``signal`` (the input at the model's rate),
        recorded beside the output; None, said once for this file, when no pause is long enough."""
        rate = self.model.cfg.sample_rate
        found = auto_reference(signal, rate, self.trained.ref_seconds, activity=detect_speech_blocks(signal, rate))
        write_reference_record(job, {**found.to_dict(), "seconds": self.trained.ref_seconds,
                                     "condition": "reference" if found.found else "null"})
        if not found.found:
            log.warning("%s: %s; enhanced with the null condition (unconditionally)", job.noisy, found.reason)
            return None
        report.auto_references += 1
        return torch.from_numpy(np.ascontiguousarray(found.samples, dtype=np.float32))

    def _say_if_band_limited(self, jobs: list[EnhanceJob]) -> None:
        """Once per run: inputs at a higher rate than the model's come back without the band above its Nyquist
        frequency (they are resampled down, enhanced and resampled back)."""
        rate = self.model.cfg.sample_rate
        higher = sorted({r for r in (audio_info(job.noisy)[0] for job in jobs if job.noisy.is_file()) if r > rate})
        if higher:
            log.warning("the model works at %g kHz: outputs of %s kHz inputs carry no band above %g kHz",
                        rate / 1000, "/".join(f"{r / 1000:g}" for r in higher), rate / 2000)


def _say_how_references_are_used(conditional: bool, inputs: EnhanceInputs) -> None:
    """One line saying how the noise references are used (or why they are not)."""
    missing, total = inputs.without_reference, len(inputs.jobs)
    if not conditional:
        if inputs.noise_ref is not None or missing < total:
            log.info("unconditioned model (encoder none): noise references ignored")
        return
    if not missing:
        return
    if inputs.reference == "auto":
        which = "no noise reference given" if missing == total else f"{missing} of {total} inputs have no noise reference"
        log.info("%s: each gets one cut from its own pauses (--noise-ref auto), recorded in <output>%s", which,
                 REFERENCE_RECORD_SUFFIX)
    elif missing == total:
        log.info("no noise reference given: enhancing unconditionally")
    else:
        log.info("%d of %d inputs have no noise reference: enhanced unconditionally", missing, total)


def enhance_files(workspace: Workspace, model: str, source: str | os.PathLike, out_dir: str | os.PathLike, *,
                  noise_ref: str | os.PathLike = "auto", settings: EnhanceSettings = EnhanceSettings(),
                  progress: Progress | None = None) -> EnhanceReport:
    """``ncse enhance``: the noisy files of ``source`` (a file, a folder or a manifest) into ``out_dir`` with the
    workspace's model ``model`` (a name or a model directory). ``noise_ref``: ``auto`` (inputs without a reference
    of their own get one cut from their pauses), ``none`` (they are enhanced unconditionally), or a file that
    replaces every reference."""
    inputs = resolve_inputs(source, out_dir, noise_ref)
    return Enhancer.load(workspace.resolve(model), settings).run(inputs, progress)
