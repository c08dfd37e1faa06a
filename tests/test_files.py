"""Atomic, durable writes, appended logs and the one JSON reader."""

import errno
import os
from pathlib import Path

import pytest

from ncse_cli import files
from ncse_cli.files import FileFormatError, append_text, atomic_output, atomic_write_text, read_json, write_json


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_output(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("the writer died")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_the_file_and_its_folder_reach_the_disk_before_and_after_the_rename(tmp_path, monkeypatch):
    synced, real_fsync = [], os.fsync

    def fsync(fd):
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), (tmp_path / "sub" / "a.json").exists()))
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    write_json(tmp_path / "sub" / "a.json", {"x": 1})
    (data_file, renamed_yet), (folder, renamed_after) = synced
    assert os.path.basename(data_file).startswith(".a.json.") and not renamed_yet  # the data, before the rename
    assert folder == str(tmp_path / "sub") and renamed_after  # the folder entry, after it
    assert read_json(tmp_path / "sub" / "a.json") == {"x": 1}


def test_new_files_get_the_mode_the_umask_gives(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_read_json_has_one_contract(tmp_path):
    assert read_json(tmp_path / "missing.json", missing_ok=True) is None
    with pytest.raises(FileFormatError, match="missing.json: no such file"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FileFormatError, match="bad.json: not a readable JSON file"):
        read_json(tmp_path / "bad.json", missing_ok=True)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(FileFormatError, match="list.json: expected a JSON object, found list"):
        read_json(tmp_path / "list.json")
    with pytest.raises(ValueError):  # NaN is not JSON: it must have become null before
        write_json(tmp_path / "nan.json", {"x": float("nan")})
    assert not (tmp_path / "nan.json").exists()


def test_a_folder_that_refuses_the_temporary_file_is_reported_for_the_file_being_written(tmp_path, monkeypatch):
    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(files.os, "open", refuse)
    with pytest.raises(PermissionError) as caught:
        atomic_write_text(tmp_path / "run.yaml", "a: 1\n")
    assert caught.value.filename == str(tmp_path / "run.yaml")  # not the hidden temporary name


def test_a_full_disk_while_writing_names_the_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # fsync reports what the disk could not take

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError) as caught:
        write_json(tmp_path / "summary.json", {"x": 1})
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(tmp_path / "summary.json"))
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_appending_to_a_log_names_the_log(tmp_path, monkeypatch):
    log = tmp_path / "train_log.csv"
    append_text(log, "step\n")
    append_text(log, "1\n")
    assert log.read_text() == "step\n1\n"
    real_open = Path.open

    def full(text: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what a file's write says on a full disk

    def full_disk_on_write(self, *args, **kwargs):
        handle = real_open(self, *args, **kwargs)
        handle.write = full
        return handle

    monkeypatch.setattr(Path, "open", full_disk_on_write)
    with pytest.raises(OSError) as caught:
        append_text(log, "2\n")
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(log))
