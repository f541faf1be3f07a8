"""A damaged Optuna journal (a write cut short by a crash or a full disk) is
detected and named with a repair path, at every byte of its last records;
after `harness repair-journal` a resume completes every key exactly once."""
from __future__ import annotations

import shutil

import optuna
import pytest
from optuna.trial import TrialState

from conftest import run_cli
from harness.journal import JournalCorrupted, find_damage
from harness.run import RunRequest, run_study
from harness.storage import open_storage

pytestmark = pytest.mark.slow  # subprocess runs on damaged journals: in `make test`, not `make check`

DESIGN = ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]


def complete_keys(storage: str) -> list[str]:
    trials = optuna.load_study(study_name="tiny.smoke", storage=open_storage(storage)).get_trials(deepcopy=False)
    return sorted(t.user_attrs["key"] for t in trials if t.state == TrialState.COMPLETE)


@pytest.fixture(scope="module")
def finished_home(tiny_smoke_run):
    """A home where a `harness run` process (since exited) ran the tiny study: its journal and tracking store
    (the session's ``tiny_smoke_run``, shared with test_cli)."""
    home, result = tiny_smoke_run
    assert result.returncode == 0, result.stderr
    return home


@pytest.fixture
def finished_journal(home, finished_home) -> bytes:
    """The finished study's journal bytes, its stores copied into this test's home."""
    shutil.copy(finished_home / "mlflow.db", home / "mlflow.db")
    (home / ".harness").mkdir(exist_ok=True)
    shutil.copy(finished_home / ".harness" / "optuna.journal", home / ".harness" / "optuna.journal")
    return (home / ".harness" / "optuna.journal").read_bytes()


def test_every_cut_in_the_last_two_records_is_read_or_named(home, tmp_path, finished_journal):
    data = finished_journal
    lines = data.splitlines(keepends=True)
    second_last = len(data) - len(lines[-1]) - len(lines[-2])
    last = len(data) - len(lines[-1])
    path = tmp_path / "cut.journal"
    named = read = 0
    for cut in range(second_last, len(data) + 1):
        path.write_bytes(data[:cut])
        if cut in (second_last, last, len(data)):  # a record boundary: a shorter but sound journal
            storage = open_storage(f"journal:{path}")
            trials = optuna.load_study(study_name="tiny.smoke", storage=storage).get_trials()
            assert len(trials) == 4
            read += 1
            continue
        with pytest.raises(JournalCorrupted) as info:
            open_storage(f"journal:{path}")
        start = second_last if cut < last else last
        message = str(info.value)
        assert str(path) in message and f"damaged at byte {start} " in message
        assert f"harness repair-journal {path}" in message
        assert info.value.damage.offset == start
        named += 1
    assert read == 3 and named == len(lines[-1]) + len(lines[-2]) - 2


def test_a_glued_record_in_the_middle_is_named_too(tmp_path, finished_journal):
    """What Optuna leaves after appending to a partial line: a bad record with good ones after it."""
    lines = finished_journal.splitlines(keepends=True)
    path = tmp_path / "glued.journal"
    glued = lines[5][: len(lines[5]) // 2] + lines[6]
    path.write_bytes(b"".join(lines[:5]) + glued + b"".join(lines[7:]))
    damage = find_damage(path)
    assert damage.offset == len(b"".join(lines[:5])) and damage.record == 5 and "not a JSON record" in damage.what
    assert damage.dropped == len(lines) - 7


@pytest.mark.parametrize("where", ["last", "second_last"])
def test_repair_then_resume_completes_every_key_once(home, finished_journal, where):
    data = finished_journal
    lines = data.splitlines(keepends=True)
    record = -1 if where == "last" else -2
    start = len(data) - sum(len(line) for line in lines[record:])
    cut = start + len(lines[record]) // 2
    journal = home / ".harness" / "optuna.journal"
    journal.write_bytes(data[:cut])

    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--no-progress")
    assert result.returncode == 2
    assert f"Optuna journal {journal} is damaged at byte {start}" in result.stderr
    assert "harness repair-journal" in result.stderr and "Traceback" not in result.stderr
    assert journal.read_bytes() == data[:cut]  # nothing was appended to the damaged file

    result = run_cli(home, "repair-journal", str(journal))
    assert result.returncode == 0, result.stderr
    backups = list(journal.parent.glob("optuna.journal.bak-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == data[:cut]
    assert journal.read_bytes() == data[:start] and str(backups[0]) in result.stdout
    result = run_cli(home, "repair-journal", str(journal))
    assert result.returncode == 0 and "nothing to repair" in result.stdout

    # the resume, in this process (the command line's exit statuses and messages are checked above; another
    # `python -m harness` start would only add its imports): the same run_study as `harness run`
    run_study(RunRequest("tiny", "smoke", progress=False))
    assert complete_keys(f"journal:{journal}") == DESIGN  # each key complete exactly once
