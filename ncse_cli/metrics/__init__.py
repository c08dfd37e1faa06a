"""Speech-quality metrics (PESQ, ESTOI, SI-SDR; DNSMOS without a clean reference), scoring one utterance, and
summary statistics."""

from ncse_cli.metrics.base import METRICS, Metric, MetricFailure
from ncse_cli.metrics.dnsmos import dnsmos
from ncse_cli.metrics.estoi import estoi
from ncse_cli.metrics.pesq import pesq_wb
from ncse_cli.metrics.scoring import (DEFAULT_METRICS, METRICS_VERSION, UtteranceScores, evaluation_metrics,
                                     metric_notes, score_utterance)
from ncse_cli.metrics.sisdr import si_sdr
from ncse_cli.metrics.summary import MetricSummary, confidence_halfwidth, summarize

__all__ = ["METRICS", "Metric", "MetricFailure", "DEFAULT_METRICS", "METRICS_VERSION", "UtteranceScores",
           "MetricSummary", "confidence_halfwidth", "dnsmos", "estoi", "evaluation_metrics", "metric_notes", "pesq_wb",
           "score_utterance", "si_sdr", "summarize"]
