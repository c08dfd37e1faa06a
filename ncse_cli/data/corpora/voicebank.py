"""VoiceBank-DEMAND (Valentini-Botinhao et al. 2016, "Investigating RNN-based speech enhancement methods for
noise-robust Text-to-Speech"), 28-speaker version, in its official layout::

    ROOT/clean_trainset_28spk_wav/p226_001.wav ...   ROOT/noisy_trainset_28spk_wav/p226_001.wav ...
    ROOT/clean_testset_wav/p232_001.wav ...          ROOT/noisy_testset_wav/p232_001.wav ...
    ROOT/logfiles/log_trainset_28spk.txt             ROOT/logfiles/log_testset.txt

Each log line is ``<utterance> <noise type> <snr dB>`` (``p232_001 living 2.5``). The log files may also sit
directly in ROOT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ncse_cli.data.corpora.base import CorpusError, require_dir

#: split -> (clean folder, noisy folder, log file)
SPLITS = {
    "train": ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "log_trainset_28spk.txt"),
    "test": ("clean_testset_wav", "noisy_testset_wav", "log_testset.txt"),
}
UTTERANCE = re.compile(r"^(p\d+)_\d+$")


@dataclass(frozen=True)
class VoiceBankPair:
    """One clean/noisy pair with its speaker and the noise type and SNR from the log file."""

    id: str
    speaker: str
    clean: Path
    noisy: Path
    noise_type: str
    log_snr_db: float


def read_log(path: Path) -> dict[str, tuple[str, float]]:
    """Parse a VoiceBank-DEMAND log file: utterance -> (noise type, SNR dB). Bad lines raise naming the line."""
    if not path.is_file():
        raise CorpusError(f"{path}: VoiceBank-DEMAND log file not found")
    entries: dict[str, tuple[str, float]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 3:
            raise CorpusError(f"{where}: expected '<utterance> <noise type> <snr>', got {line.strip()!r}")
        utt, noise_type, snr = fields
        try:
            entries[utt] = (noise_type, float(snr))
        except ValueError:
            raise CorpusError(f"{where}: SNR {snr!r} is not a number") from None
    if not entries:
        raise CorpusError(f"{path}: log file is empty")
    return entries


def _log_path(root: Path, name: str) -> Path:
    for candidate in (root / "logfiles" / name, root / name):
        if candidate.is_file():
            return candidate
    raise CorpusError(f"{root / 'logfiles' / name}: VoiceBank-DEMAND log file not found")


def index_voicebank(root: str | Path, split: str) -> list[VoiceBankPair]:
    """The pairs of ``split`` (``train`` or ``test``), sorted by id, checked against each other and the log."""
    if split not in SPLITS:
        raise CorpusError(f"unknown VoiceBank-DEMAND split {split!r}; splits are {', '.join(SPLITS)}")
    root = require_dir(root, "VoiceBank-DEMAND")
    clean_name, noisy_name, log_name = SPLITS[split]
    clean_dir = require_dir(root / clean_name, "VoiceBank-DEMAND clean")
    noisy_dir = require_dir(root / noisy_name, "VoiceBank-DEMAND noisy")
    log = read_log(_log_path(root, log_name))
    clean = {p.stem: p for p in clean_dir.glob("*.wav")}
    noisy = {p.stem: p for p in noisy_dir.glob("*.wav")}
    if not clean:
        raise CorpusError(f"{clean_dir}: no .wav files")
    _check_same(clean, noisy, clean_dir, noisy_dir)
    pairs = []
    for utt in sorted(clean):
        match = UTTERANCE.match(utt)
        if not match:
            raise CorpusError(f"{clean[utt]}: file name is not of the form p<speaker>_<number>.wav")
        if utt not in log:
            raise CorpusError(f"{clean[utt]}: utterance {utt} has no line in {_log_path(root, log_name)}")
        noise_type, snr = log[utt]
        pairs.append(VoiceBankPair(utt, match.group(1), clean[utt], noisy[utt], noise_type, snr))
    return pairs


def _check_same(clean: dict[str, Path], noisy: dict[str, Path], clean_dir: Path, noisy_dir: Path) -> None:
    for have, lack, folder in ((clean, noisy, noisy_dir), (noisy, clean, clean_dir)):
        missing = sorted(set(have) - set(lack))
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise CorpusError(f"{folder / (missing[0] + '.wav')}: missing, its counterpart exists{more}")
