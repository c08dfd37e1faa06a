"""Reading manifests: every unusable file is one ManifestError naming the file and line."""

from __future__ import annotations

import pytest

from ncse_cli.data.manifest import ManifestError, read_manifest
from tests.dummies import make_manifest


def test_a_binary_file_is_a_manifest_error_naming_the_line(tmp_path):
    good = make_manifest(tmp_path, count=1).read_bytes()
    path = tmp_path / "binary.jsonl"
    path.write_bytes(good + b"\xda\x00\xff\xfe random bytes\n")
    with pytest.raises(ManifestError, match=r"binary\.jsonl:2: not UTF-8"):
        read_manifest(path)
