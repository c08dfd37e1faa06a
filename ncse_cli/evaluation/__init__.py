"""Enhancing files and evaluating models: inputs, batched resumable enhancement, parallel scoring, stored results."""

from ncse_cli.inference.enhancer import EnhanceJob, EnhanceReport, EnhanceSettings, enhance_files
from ncse_cli.inference.jobs import EnhanceInputs, resolve_inputs
from ncse_cli.evaluation.results import ScoreSummary, model_summaries, read_summary
from ncse_cli.evaluation.run import EvaluateOptions, EvaluationError, evaluate, model_sampler
from ncse_cli.evaluation.testsets import KINDS, TestSet, load_testset

__all__ = ["EnhanceJob", "EnhanceReport", "EnhanceSettings", "enhance_files", "EnhanceInputs", "resolve_inputs",
           "ScoreSummary", "model_summaries", "read_summary", "EvaluateOptions", "EvaluationError", "evaluate",
           "model_sampler", "KINDS", "TestSet", "load_testset"]
