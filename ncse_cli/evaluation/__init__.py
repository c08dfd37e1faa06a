"""Evaluating models: test sets, enhancement at each guidance scale, parallel scoring, stored results."""

from ncse_cli.evaluation.results import ScoreSummary, model_summaries, read_summary
from ncse_cli.evaluation.run import EvaluateOptions, EvaluationError, evaluate
from ncse_cli.evaluation.testsets import KINDS, TestSet, load_testset

__all__ = ["ScoreSummary", "model_summaries", "read_summary", "EvaluateOptions", "EvaluationError", "evaluate",
           "KINDS", "TestSet", "load_testset"]
