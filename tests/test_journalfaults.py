"""The journal-cut family's own parts (its end-to-end recoveries run under
``make faults``): which cuts, which are sampled, and the detection check on a
real journal of the tiny study."""
from __future__ import annotations

import pytest

from harness import faults, journalfaults


def test_cuts_cover_every_byte_of_the_last_two_records_and_know_their_boundaries():
    data = b'{"op_code":0}\n{"op_code":1,"x":2}\n{"op_code":4}\n'
    every, boundaries = journalfaults.cuts(data)
    start = len(b'{"op_code":0}\n')
    assert every == list(range(start, len(data) + 1))
    assert boundaries == {start, len(data) - len(b'{"op_code":4}\n'), len(data)}


def test_the_sample_keeps_the_boundaries_and_spreads_the_rest():
    every, boundaries = list(range(100, 301)), {100, 180, 300}
    picked = journalfaults.sample(every, boundaries, 8)
    assert boundaries <= set(picked) and len(picked) == 11 and picked == sorted(picked)
    gaps = [b - a for a, b in zip(picked, picked[1:]) if a not in boundaries and b not in boundaries]
    assert max(gaps) - min(gaps) <= 1  # evenly spaced
    assert journalfaults.sample([5, 6, 7], {5, 7}, 8) == [5, 6, 7]


@pytest.mark.slow  # needs the session's finished run of the tiny study (a subprocess)
def test_every_cut_of_a_real_journal_is_read_or_named_at_its_record(tmp_path, tiny_smoke_run):
    home, result = tiny_smoke_run
    assert result.returncode == 0, result.stderr
    data = (home / ".harness" / "optuna.journal").read_bytes()
    every, boundaries = journalfaults.cuts(data)
    assert len(every) > 100
    assert all(journalfaults.detected(data, cut, boundaries, tmp_path) == [] for cut in every)
    # the check can fail: a cut called damaged at a boundary, or named at another record than expected
    second_last, last, end = sorted(boundaries)
    inside = last + 1  # in the last record
    assert journalfaults.detected(data, inside, boundaries | {inside}, tmp_path)
    assert journalfaults.detected(data, inside, {second_last, end}, tmp_path)  # expects the second-last record


def test_render_counts_the_cuts_without_a_line_for_each():
    outcomes = [faults.Outcome("journal cut: detected or read", f"the journal cut at byte {c} of 300",
                               family="journal") for c in range(100, 301)]
    outcomes.append(faults.Outcome("journal cut: repaired and resumed", "the journal cut at byte 150 of 300",
                                   family="journal"))
    text = faults.render(outcomes, "python -m harness.faults", 0)
    assert "| journal cut: detected or read | 201 | 201 | 0 |" in text
    assert "| journal cut: repaired and resumed | 1 | 1 | 0 |" in text
    assert "**202 injections, 0 with a violated invariant.**" in text and "byte 150" not in text
