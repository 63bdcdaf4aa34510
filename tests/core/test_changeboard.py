"""The change board: a bump by any process of the host shows in every other's stamps, and
only once the change has committed."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text

from dpistack.core.changeboard import ChangeBoard


def test_a_bump_changes_the_stamp_of_its_key_only(tmp_path):
    board = ChangeBoard(tmp_path / "board")
    before = {k: board.stamp(k) for k in ("alice", "bob")}
    board.bump(["alice"])
    assert board.stamp("alice") != before["alice"] and board.stamp("bob") == before["bob"]
    again = board.stamp("alice")
    board.bump(["alice"])
    assert board.stamp("alice") != again  # every bump is a new value, not back to an old one


def test_another_process_sees_the_bump(tmp_path):
    path = tmp_path / "board"
    board = ChangeBoard(path)
    before = board.stamp("person-1")
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                    "from dpistack.core.changeboard import ChangeBoard; ChangeBoard(Path(sys.argv[1])).bump(['person-1'])",
                    str(path)], check=True, timeout=60)
    assert board.stamp("person-1") != before


def test_bump_after_commit_waits_for_the_commit(sqlite_platform, tmp_path):
    board = ChangeBoard(tmp_path / "board")
    db = sqlite_platform.db
    with db.uow(write=True) as session:
        session.execute(text("CREATE TABLE probe (n INTEGER)"))
    before = board.stamp("k")
    try:
        with db.uow(write=True) as session:
            board.bump_after_commit(session, "k")
            session.execute(text("INSERT INTO probe VALUES (1)"))
            assert board.stamp("k") == before  # not yet: others must not re-read before the commit
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert board.stamp("k") == before  # rolled back: nothing changed
    with db.uow(write=True) as session:
        board.bump_after_commit(session, "k")
        session.execute(text("INSERT INTO probe VALUES (2)"))
    assert board.stamp("k") != before
