"""The write signal: a completing write is announced, then recorded with a new name; a machine
cache that cannot be written does not stop the write."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmo_kg.graph.version import WRITING, WRITTEN, WriteSignal, writing


def test_a_completing_write_is_announced_then_recorded_under_a_new_name(tmp_path: Path) -> None:
    signal = WriteSignal(tmp_path / "db")
    with signal.completing():
        during = signal.names()
        assert during is not None and writing(during)
    after = signal.names()
    assert after is not None and not writing(after)
    assert {n for n in after if n.startswith(WRITTEN)}
    with signal.completing():
        pass
    assert signal.names() != after  # every write changes the listing


def test_a_write_whose_signal_cannot_be_written_still_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    signal = WriteSignal(blocker / "db")  # its parent is a file: no directory can be made
    ran = False
    with signal.completing():
        ran = True
    assert ran and signal.names() is None
    assert "write not signalled" in caplog.text


def test_a_failed_completion_is_still_recorded(tmp_path: Path) -> None:
    signal = WriteSignal(tmp_path / "db")
    with pytest.raises(RuntimeError), signal.completing():
        raise RuntimeError("the transaction failed")
    names = signal.names()
    assert names is not None and not any(n.startswith(WRITING) for n in names)
    assert any(n.startswith(WRITTEN) for n in names)


def test_readers_get_the_bookmarks_of_every_recorded_write(tmp_path: Path) -> None:
    signal = WriteSignal(tmp_path / "db")
    with signal.completing(lambda: ["FB:first"]):
        pass
    with signal.completing(lambda: ["FB:second", "FB:third"]):
        pass
    (signal.directory / f"{WRITTEN}from-an-older-version").touch()  # an empty record
    names = signal.names()
    assert names is not None
    assert signal.bookmarks(names) == {"FB:first", "FB:second", "FB:third"}
    assert not any(n.endswith(".tmp") for n in names)  # each record appears whole


def test_bookmarks_that_cannot_be_had_do_not_stop_the_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def lost() -> list[str]:
        raise ConnectionError("the session is gone")

    signal = WriteSignal(tmp_path / "db")
    with signal.completing(lost):
        pass
    names = signal.names()
    assert names is not None and signal.bookmarks(names) == frozenset()
    assert any(n.startswith(WRITTEN) for n in names)
    assert "bookmarks of the write not recorded" in caplog.text
