"""Corpus indexers for official layouts. Importing this package registers every noise corpus in
:data:`NOISE_CORPORA` (esc50, urbansound8k, wham, demand, audioset, synthetic)."""

from ncse_cli.data.corpora import audioset, demand, esc50, synthetic, urbansound8k, wham  # noqa: F401  (registration)
from ncse_cli.data.corpora.base import NOISE_CORPORA, CorpusError, index_noise
from ncse_cli.data.corpora.clean import CleanUtterance, index_clean
from ncse_cli.data.corpora.voicebank import VoiceBankPair, index_voicebank

__all__ = ["NOISE_CORPORA", "CorpusError", "index_noise", "CleanUtterance", "index_clean", "VoiceBankPair",
           "index_voicebank"]
