"""The training config of each model of an experiment at a scale, and what it needs that this machine may lack.

Settings resolve as for ``ncse train``: built-in defaults < the model's recipe < its inline ``settings`` < the
scale's preset < the training seed < the prepared data folder (a recipe's dynamic mixing is kept, its noise pools
read from the machine's corpora) < the machine's tower checkpoint. At the ``demo``
preset every recipe is shrunk to the size of ``ncse demo``, from :mod:`ncse_cli.demo`'s constants (so a change of
the demo's model, training or sampler carries over to the whole plan at demo scale): its backbone replaces the
recipe's (cross-attention levels are then chosen automatically), the recipe's encoder keeps its kind but takes
the demo encoder's sizes where it has such fields (``channels``, ``dim``), and the demo's training and sampler
settings apply, at the scale's step counts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ncse_cli.config import ConfigError, component_name, from_dict, merge
from ncse_cli.data.config import FILE_CORPORA, DynamicMixingConfig, data_config_from_path
from ncse_cli.encoders import ENCODERS
from ncse_cli.encoders.pretrained import resolve_checkpoint
from ncse_cli.experiments.machine import Machine
from ncse_cli.experiments.spec import ExperimentFile, Scale
from ncse_cli.model_dir import CONFIG_FILE
from ncse_cli.training.config import (EncoderOptions, RunConfig, apply_encoder_options, load_run_config,
                                      recipe_tree, resolve_run_config, resume_conflicts)


@dataclass(frozen=True)
class ModelRun:
    """One trained model of an experiment: a model of the file at one training seed."""

    key: str  #: the model's name in the experiment file
    seed: int
    cfg: RunConfig  #: its training config (``data`` is ``None`` until the data folder is prepared)
    missing: str = ""  #: what this machine lacks to train it (a tower checkpoint), else empty

    @property
    def name(self) -> str:
        """Its name in the workspace: ``<key>-s<seed>``."""
        return f"{self.key}-s{self.seed}"

    @property
    def conditional(self) -> bool:
        return component_name(self.cfg.model.encoder) != "none"


def demo_defaults() -> tuple[int, int]:
    """``ncse demo``'s training and sampler steps (:class:`ncse_cli.demo.DemoOptions`)."""
    from ncse_cli.demo import DemoOptions

    return DemoOptions.train_steps, DemoOptions.sampler_steps


#: Sizes of encoders trained from scratch at the demo scale (``recipes/tiny.yaml``'s CNN); an encoder takes those
#: its config has.
DEMO_ENCODER_SIZES: dict[str, Any] = {"channels": [16, 32, 64, 64], "dim": 64}


def demo_preset(tree: dict[str, Any], scale: Scale) -> dict[str, Any]:
    """Overrides that bring a recipe (its settings as a tree) to the size of ``ncse demo`` (module docstring)."""
    from ncse_cli.demo import DEMO_MODEL, DEMO_SAMPLER, DEMO_TRAIN

    train_steps, sampler_steps = demo_defaults()
    steps = scale.train_steps or train_steps
    # the demo's backbone and formulation; the recipe's own encoder and injection, at demo size
    model = {key: value for key, value in DEMO_MODEL.items() if key not in ("encoder", "conditioning")}
    encoder = tree.get("model", {}).get("encoder", {"name": "cnn"})
    name = encoder if isinstance(encoder, str) else encoder.get("name", "cnn")
    sizes = {k: v for k, v in DEMO_ENCODER_SIZES.items()
             if k in {f.name for f in dataclasses.fields(ENCODERS.get(name).Config)}}
    model["encoder"] = {"name": name, **sizes}
    train = {**DEMO_TRAIN, "steps": steps, "val_every": steps, "save_every": steps}
    return {"model": model, "train": train, "sampler": {"name": DEMO_SAMPLER, "steps": scale.sampler_steps or sampler_steps}}


def model_settings(spec: ExperimentFile, key: str, scale: Scale, seed: int) -> dict[str, Any]:
    """The overrides of one model over its recipe: inline settings, the preset, the seed."""
    entry = spec.models[key]
    recipe = spec.recipe_path(key)
    tree = merge(recipe_tree(recipe) if recipe is not None else {}, entry.settings)
    overrides = dict(entry.settings)
    if scale.preset == "demo":
        overrides = merge(overrides, demo_preset(tree, scale))
    else:  # the recipes as written, with the scale's step counts when it sets them
        overrides = merge(overrides, {"train": {"steps": scale.train_steps}} if scale.train_steps else {})
        overrides = merge(overrides, {"sampler": {"steps": scale.sampler_steps}} if scale.sampler_steps else {})
    return merge(overrides, {"train": {"seed": seed}})


def tower_checkpoint(cfg: RunConfig, machine: Machine) -> tuple[RunConfig, str]:
    """The config with the machine's checkpoint for a pre-trained tower, and what is missing: empty when the
    encoder has no tower or its official weights are at hand, else the 'where to get it' line."""
    weights = getattr(ENCODERS.get(component_name(cfg.model.encoder)), "weights", None)
    if weights is None:
        return cfg, ""
    family = weights.flag.removeprefix("--").removesuffix("-ckpt")
    given = machine.weights.get(family)
    if given is not None:
        cfg = apply_encoder_options(cfg, EncoderOptions(ckpt=Path(given), ckpt_for=family))
    if resolve_checkpoint(weights, getattr(cfg.model.encoder, "ckpt", None)) is not None:
        return cfg, ""
    return cfg, (f"needs the {weights.what} checkpoint {weights.filename} ({weights.url}; 'weights: {family}: PATH' "
                 f"in the machine file or --weights {family}=PATH)")


def model_runs(spec: ExperimentFile, key: str, scale: Scale, data_dir: Path, machine: Machine) -> list[ModelRun]:
    """The runs of one model at every training seed; ``cfg.data`` is the prepared folder when it is ready."""
    entry = spec.models[key]
    runs = []
    for seed in entry.seeds or scale.training_seeds:
        source = scale.data[entry.data]
        folder = data_dir / entry.data
        data = data_config_from_path(folder / (source.train or "")) if is_prepared(folder) else None
        try:
            cfg = resolve_run_config(spec.recipe_path(key), model_settings(spec, key, scale, seed), data=data)
            dynamic, pools_missing = dynamic_mixing(spec, key, machine)
        except ConfigError as err:
            raise ConfigError(f"{spec.path}: model {key}: {err}") from None
        if dynamic is not None and cfg.data is not None:
            cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dynamic=dynamic))
        cfg, missing = tower_checkpoint(cfg, machine)
        runs.append(ModelRun(key, seed, cfg, missing or pools_missing))
    return runs


def dynamic_mixing(spec: ExperimentFile, key: str, machine: Machine) -> tuple[DynamicMixingConfig | None, str]:
    """A recipe's dynamic mixing (noise pools and augmentation, the plan's Solution D), kept when the model trains
    on a prepared folder's manifests; each pool of a corpus on disk reads the machine's copy, whatever path the
    recipe names. Also what is missing: pools of corpora the machine file does not name."""
    recipe = spec.recipe_path(key)
    tree = recipe_tree(recipe) if recipe is not None else {}
    section = merge(tree.get("data") or {}, spec.models[key].settings.get("data") or {}).get("dynamic")
    if not section:
        return None, ""
    dynamic = from_dict(DynamicMixingConfig, section, "data.dynamic")
    absent = [p.corpus for p in dynamic.noise_pools if p.corpus in FILE_CORPORA and p.corpus not in machine.corpora]
    pools = [dataclasses.replace(p, path=machine.corpora[p.corpus]) if p.corpus in machine.corpora and
             p.corpus in FILE_CORPORA else p for p in dynamic.noise_pools]
    missing = (f"its noise pools need the corpus {', '.join(dict.fromkeys(absent))} ('corpora: {absent[0]}: PATH' "
               f"in the machine file or --corpus {absent[0]}=PATH)") if absent else ""
    return dataclasses.replace(dynamic, noise_pools=pools), missing


def is_prepared(folder: Path) -> bool:
    """Whether a prepare recipe completed in ``folder``."""
    from ncse_cli.data.prepare.state import PrepareState

    states = [PrepareState(folder, path.stem.removeprefix("prepare_")) for path in folder.glob("prepare_*.yaml")]
    return bool(states) and all((state.load() or {}).get("complete") for state in states)


def prepared_differences(folder: Path, options: dict[str, Any]) -> list[str]:
    """Options of a prepare task whose values differ from those a completed recipe in ``folder`` recorded (its
    stored ``config``), so that a folder prepared with other settings (e.g. other demo noise kinds) is never
    taken for the one asked for. Options the recipe did not record are not compared."""
    from ncse_cli.data.prepare.state import PrepareState

    stored: dict[str, Any] = {}
    for path in folder.glob("prepare_*.yaml"):
        stored.update((PrepareState(folder, path.stem.removeprefix("prepare_")).load() or {}).get("config") or {})

    def plain(value: Any) -> Any:
        return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value
    return sorted(k for k, v in options.items() if k in stored and plain(stored[k]) != plain(v))


def settings_changed(model_dir: Path, cfg: RunConfig) -> list[str]:
    """Dotted keys whose saved values in a trained model's ``config.yaml`` differ from ``cfg`` (those a resumed run
    may change aside; the data section only once ``cfg`` has one; and the sampler's step count, which the
    evaluation passes to the sampler rather than reading it from the model)."""
    saved = load_run_config(model_dir / CONFIG_FILE, saved=True)
    return [key for key in resume_conflicts(saved, cfg)
            if (cfg.data is not None or not key.startswith("data.")) and key != "sampler.steps"]
