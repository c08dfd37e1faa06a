"""Training: the run config, the Accelerate loop, EMA, resumable checkpoints and the run's metrics.

``train(cfg, workspace, name)`` is the entry point; ``run_config_for`` resolves defaults, a recipe and flag
overrides into the :class:`RunConfig` it takes.
"""

from ncse_cli.training.config import (EncoderOptions, RunConfig, TrainConfig, config_yaml, load_run_config,
                                      resolve_run_config)
from ncse_cli.training.loop import is_main_process, train
from ncse_cli.training.metrics_log import RunSummary, read_train_log, summarize_run
from ncse_cli.training.rundir import run_config_for
from ncse_cli.training.session import TrainingError

__all__ = ["EncoderOptions", "RunConfig", "RunSummary", "TrainConfig", "TrainingError", "config_yaml",
           "is_main_process", "load_run_config", "read_train_log", "resolve_run_config", "run_config_for",
           "summarize_run", "train"]
