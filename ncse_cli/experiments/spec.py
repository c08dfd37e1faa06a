"""Experiment files: one group of the research plan (noise_conditioning_plan.md) as typed, strict dataclasses.

An experiment file names the models of a group (training recipes and seeds), the plan's experiment IDs as
(model, guidance scale, test suites), the model each is compared with (the unconditioned baseline; the global-pool
model for cross-attention), the reference conditions of its diagnosis, the success criteria it is judged by
(section 7.1), and one block per scale: ``full`` (the recipes as written, on the real corpora) and ``demo`` (the
same models at the CPU demo's size on the built-in synthetic corpus). A scale says which folders ``ncse prepare``
makes (recipe and options, never where a corpus lives: that comes from the machine file, :mod:`.machine`) and
which of their manifests form each test suite. Example (``recipes/plan/cfg.yaml``)::

    extends: _common.yaml            # suites, scales, sampler seeds shared by every group
    group: cfg
    title: "Phase 1: classifier-free guidance"
    models:
      uncond: {recipe: ../uncond_baseline.yaml}
      cfg-p0.2: {recipe: ../cfg_p0.2.yaml}
    baseline: uncond
    experiments:
      CFG-04: {model: cfg-p0.2, w: 1, suites: [vbdemand]}
    criteria: [{criterion: in-distribution, against: uncond}]

``extends`` (relative to the file) starts from another file's settings, which this one overrides key by key
(mappings merge, everything else is replaced). Unknown keys are errors at every level; names are checked against
each other (an experiment's model, a suite, a data folder) when the file is loaded, so a typo fails before work.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from ncse_cli.config import ConfigError, from_dict, load_yaml, merge
from ncse_cli.evaluation.conditions import ConditionError, ReferenceCondition
from ncse_cli.metrics import METRICS
from ncse_cli.report.stats import PLAN_CRITERIA

SCALES = ("full", "demo")
#: Test-suite kinds (the plan's scenarios, section 7.1).
SUITE_KINDS = ("in-distribution", "ood", "non-stationary")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class DataSource:
    """A folder that ``ncse prepare RECIPE`` makes (``<out>/data/<name>``).

    ``options`` are the recipe's keyword arguments; a path option relative to the data folder (``vb/test.jsonl``)
    names another source's output, which is then prepared first. ``corpora`` maps recipe options to corpora of
    the machine file (``{root: voicebank}``): the source cannot be made without them. ``optional_corpora`` are
    passed when the machine has them (``ncse prepare nonstationary`` falls back to synthetic noise). ``train`` is
    the training manifest in the folder of a model that trains there (``None``: ``train.jsonl`` or
    ``vbdemand_train.jsonl``, as ``ncse train --data FOLDER`` finds it)."""

    recipe: Literal["demo", "vbdemand", "ood", "nonstationary"]
    options: dict[str, Any] = field(default_factory=dict)
    corpora: dict[str, str] = field(default_factory=dict)
    optional_corpora: dict[str, str] = field(default_factory=dict)
    train: str | None = None


@dataclass(frozen=True)
class Suite:
    """A test suite: manifests (relative to the data folder) of one scenario of the plan."""

    kind: Literal["in-distribution", "ood", "non-stationary"]
    manifests: tuple[str, ...]
    title: str = ""

    def __post_init__(self) -> None:
        if not self.manifests:
            raise ValueError("a suite needs at least one manifest")


@dataclass(frozen=True)
class Scale:
    """Everything that differs between the full plan and its CPU demo.

    ``preset: recipes`` trains each recipe as written; ``preset: demo`` trains it at the size of ``ncse demo``
    (its backbone, encoder sizes, training and sampler settings: :data:`ncse_cli.demo.DEMO_MODEL`, ...), for
    ``train_steps`` steps, and samples with ``sampler_steps`` (``None``: ``ncse demo``'s defaults)."""

    data: dict[str, DataSource]
    suites: dict[str, Suite]
    preset: Literal["recipes", "demo"] = "recipes"
    training_seeds: tuple[int, ...] = (0,)
    sampler_seeds: tuple[int, ...] = (0,)
    train_steps: int | None = None
    sampler_steps: int | None = None
    precision: str = "auto"  #: the evaluation's network arithmetic (:mod:`ncse_cli.precision`)
    dnsmos: bool = True  #: score DNSMOS beside PESQ, ESTOI and SI-SDR (about 0.7 s per 2 s utterance on a CPU core)

    def __post_init__(self) -> None:
        if not self.training_seeds or not self.sampler_seeds:
            raise ValueError("training_seeds and sampler_seeds need at least one seed each")
        if min(*self.training_seeds, *self.sampler_seeds) < 0:
            raise ValueError("seeds must not be negative")
        for name in ("train_steps", "sampler_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass(frozen=True)
class ModelEntry:
    """A model of the group: a training recipe (relative to the experiment file) and/or inline recipe settings
    merged over it, the data folder it trains on (its scale's ``data`` entry says which manifest), and its
    training seeds (``None``: the scale's)."""

    recipe: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    data: str = "vb"
    seeds: tuple[int, ...] | None = None
    title: str = ""

    def __post_init__(self) -> None:
        if self.recipe is None and not self.settings:
            raise ValueError("give a recipe, settings, or both")


@dataclass(frozen=True)
class Entry:
    """One of the plan's experiment IDs: a model at a guidance scale on test suites, compared with ``against``
    (default: the file's baseline)."""

    model: str
    suites: tuple[str, ...]
    w: float = 1.0
    against: str | None = None
    title: str = ""

    def __post_init__(self) -> None:
        if not self.suites:
            raise ValueError("an experiment needs at least one suite")
        if not (math.isfinite(self.w) and self.w >= 0):
            raise ValueError(f"w must be finite and non-negative, got {self.w}")


@dataclass(frozen=True)
class ConditionStudy:
    """Reference conditions evaluated besides the matched one (the plan's diagnosis, section 1): each is compared
    with the matched reference of the same model at the same ``w``. ``models`` / ``suites`` empty: every
    conditioned model / every suite of the file."""

    conditions: tuple[str, ...] = ()
    w: float = 1.0
    models: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()

    def parsed(self) -> list[ReferenceCondition]:
        return [ReferenceCondition.parse(text) for text in self.conditions]


@dataclass(frozen=True)
class CriterionRef:
    """A success criterion of section 7.1 (by id: in-distribution, ood, non-stationary) judged for every
    experiment with a suite of its kind against the model ``against``."""

    criterion: str
    against: str


@dataclass(frozen=True)
class ExperimentFile:
    """A parsed experiment file (see the module docstring)."""

    group: str
    title: str
    models: dict[str, ModelEntry]
    experiments: dict[str, Entry]
    scales: dict[str, Scale]
    question: str = ""
    baseline: str | None = None
    conditions: ConditionStudy = field(default_factory=ConditionStudy)
    criteria: tuple[CriterionRef, ...] = ()
    metrics: tuple[str, ...] = ("pesq", "estoi", "si_sdr")
    #: how many test utterances get spectrogram figures
    spectrograms: int = 2
    path: Path = field(default=Path("."), compare=False)  #: the file (recipes are relative to its folder)

    def comparator(self, entry: Entry) -> str | None:
        """The model an experiment is compared with."""
        return entry.against or self.baseline

    def scale(self, name: str) -> Scale:
        if name not in self.scales:
            raise ConfigError(f"{self.path}: no scale {name!r} (has: {', '.join(self.scales) or 'none'})")
        return self.scales[name]

    def with_steps(self, scale: str, train_steps: int | None = None,
                   sampler_steps: int | None = None) -> "ExperimentFile":
        """This file with a scale's training and sampler step counts replaced (``None``: kept)."""
        chosen = self.scale(scale)
        changed = dataclasses.replace(chosen, train_steps=train_steps or chosen.train_steps,
                                      sampler_steps=sampler_steps or chosen.sampler_steps)
        return dataclasses.replace(self, scales={**self.scales, scale: changed})

    def data_folder(self, model: str) -> str:
        """The data folder a model trains from."""
        return self.models[model].data

    def recipe_path(self, model: str) -> Path | None:
        """The recipe file of a model, resolved from the experiment file's folder."""
        recipe = self.models[model].recipe
        return None if recipe is None else (self.path.parent / recipe).resolve()


def load_experiment(path: str | Path) -> ExperimentFile:
    """Read and check an experiment file (``extends`` resolved)."""
    path = Path(path)
    tree = experiment_tree(path)
    tree.pop("path", None)
    try:
        spec = from_dict(ExperimentFile, tree)
    except ConfigError as err:
        raise ConfigError(err if str(err).startswith(str(path)) else f"{path}: {err}") from None
    spec = dataclasses.replace(spec, path=path.resolve())
    check_experiment(spec)
    return spec


def experiment_tree(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """An experiment file's settings as a dict, ``extends`` merged (relative recipe paths are kept as written in
    each file: a file that extends one from another folder must live beside it)."""
    resolved = path.resolve()
    if resolved in chain:
        raise ConfigError(f"{path}: 'extends' loops back to itself")
    data = load_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'extends' must name an experiment file, got {parent!r}")
    parent_path = path.parent / parent
    if not parent_path.is_file():
        raise ConfigError(f"{path}: extends {parent!r}, which is not a file ({parent_path})")
    return merge(experiment_tree(parent_path, (*chain, resolved)), data)


def check_experiment(spec: ExperimentFile) -> None:
    """Cross-references: every name an entry uses exists, and every scale defines the same suites and data."""
    where = str(spec.path)

    def need(names: Mapping[str, Any], name: str | None, what: str, context: str) -> None:
        if name is not None and name not in names:
            raise ConfigError(f"{where}: {context} names {what} {name!r}, which is not defined (defined: "
                              f"{', '.join(names) or 'none'})")

    for name in (spec.group, *spec.models, *spec.experiments):
        if not _NAME.match(name):
            raise ConfigError(f"{where}: {name!r} is not a usable name (letters, digits, '.', '_', '+', '-')")
    unknown = sorted(set(spec.scales) - set(SCALES))
    if unknown or not spec.scales:
        raise ConfigError(f"{where}: scales must be some of {', '.join(SCALES)}, got {', '.join(spec.scales) or 'none'}")
    need(spec.models, spec.baseline, "model", "baseline")
    for key, entry in spec.experiments.items():
        need(spec.models, entry.model, "model", f"experiment {key}")
        need(spec.models, spec.comparator(entry), "model", f"experiment {key}'s comparison")
    for name in spec.conditions.models:
        need(spec.models, name, "model", "conditions")
    for ref in spec.criteria:
        need(spec.models, ref.against, "model", f"criterion {ref.criterion}")
        if ref.criterion not in {c.id for c in PLAN_CRITERIA}:
            raise ConfigError(f"{where}: unknown criterion {ref.criterion!r}; known: "
                              f"{', '.join(c.id for c in PLAN_CRITERIA)}")
    try:
        spec.conditions.parsed()
    except ConditionError as err:
        raise ConfigError(f"{where}: conditions: {err}") from None
    suites = {s for entry in spec.experiments.values() for s in entry.suites} | set(spec.conditions.suites)
    for scale_name, scale in spec.scales.items():
        for name in sorted(suites):
            need(scale.suites, name, "suite", f"scale {scale_name}")
        for name in sorted({spec.data_folder(m) for m in spec.models}):
            need(scale.data, name, "data folder", f"scale {scale_name} (a model's data)")
        for name, source in scale.data.items():
            for dependency in source_dependencies(source, scale.data):
                need(scale.data, dependency, "data folder", f"data {name}")
        for name, suite in scale.suites.items():
            for manifest in suite.manifests:
                need(scale.data, manifest.split("/", 1)[0], "data folder", f"suite {name}")
    for metric in spec.metrics:
        try:
            METRICS.get(metric)
        except KeyError as err:
            raise ConfigError(f"{where}: metrics: {err}") from None


def source_dependencies(source: DataSource, sources: Mapping[str, DataSource]) -> list[str]:
    """The other data sources a source's path options point into (``clean: vb/test.jsonl`` -> ``vb``)."""
    found = []
    for value in source.options.values():
        if isinstance(value, str) and "/" in value and not value.startswith(("/", "~", ".")):
            head = value.split("/", 1)[0]
            if head in sources and head not in found:
                found.append(head)
    return found
