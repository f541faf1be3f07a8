"""The benchmark runner end to end on a tiny size: it measures both sides,
writes the table with the command and the machine, and rejects bad input.
(Speed targets are judged by `make bench`, not here.)"""
from __future__ import annotations

import pytest

from harness import bench

pytestmark = pytest.mark.slow  # the benchmark runner: in `make test`, not `make check`


def test_bench_writes_ratios_with_command_and_machine(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert bench.main(["ensemble-seeds", "--seeds", "2", "--epochs", "1", "--repeats", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "python -m harness.bench ensemble-seeds --seeds 2" in text
    assert "Machine:" in text and "cores" in text and "torch" in text
    row = next(line for line in text.splitlines() if line.startswith("| ensemble-seeds"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    baseline_s, candidate_s, ratio = float(cells[2]), float(cells[4]), float(cells[5].strip("*x"))
    assert baseline_s > 0 and candidate_s > 0
    assert ratio == pytest.approx(baseline_s / candidate_s, rel=0.02)
    assert cells[8].startswith("undecided (one repeat")   # --repeats 1: no interval, so no claim either way
    assert "ensemble-seeds:" in capsys.readouterr().out


def test_dropconnect_masks_times_both_mask_kinds_as_a_measurement(tmp_path):
    out = tmp_path / "bench.md"
    assert bench.main(["dropconnect-masks", "--epochs", "1", "--repeats", "1", "--out", str(out)]) == 0
    row = next(line for line in out.read_text().splitlines() if line.startswith("| dropconnect-masks"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert "per minibatch" in cells[1] and "per example" in cells[3]
    assert float(cells[2]) > 0 and float(cells[4]) > 0
    assert cells[8] == "no target"  # a measurement: how many times slower per-example masks are, no goal


def test_bench_rejects_unknown_names_and_bad_sizes(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["no-such-bench", "--out", str(tmp_path / "b.md")])
    assert "ensemble-seeds" in capsys.readouterr().err  # the known names
    with pytest.raises(SystemExit):
        bench.main(["--seeds", "0"])
    assert not (tmp_path / "b.md").exists()


def test_the_standard_tier_families_run_at_the_k_the_studies_declare():
    from harness.discovery import get_study

    for study, arm in (("dropout", "dropconnect"), ("ae-vs-pca", "deep-ae-30"), ("batchnorm", "cnn-bn")):
        declared = get_study(study)
        budget = declared.budget("standard")
        expected = min(budget.schedule[0], next(a for a in declared.design("standard") if a.name == arm).max_replicates
                       or budget.replicates)
        assert bench._standard_k(study, arm) == expected


def test_sequential_vs_fixed_counts_seeds_and_decisions_from_one_sweep(home, tmp_path, capsys, monkeypatch):
    """tiny-seq: the fixed design runs every arm to 6 (18 trials); the sequential rule on the same
    runs stops SEQ-LARGE at the first look, so `large` needs 3 (15 trials), with the same verdicts."""
    # what tracking-overhead's MLflowCallback leaves behind in a whole `make bench`: a deleted store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'gone' / 'mlflow.db'}")
    out = tmp_path / "bench.md"
    assert bench.main([bench.DESIGNS, "--design-studies", "tiny-seq", "tiny", "--out", str(out)]) == 0
    text = out.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| tiny-seq"))
    assert [c.strip() for c in row.strip("|").split("|")] == ["tiny-seq", "3, 6", "2", "18", "1", "15", "1", "met"]
    assert "| tiny | 3 (fixed) | 2 | — | — | — | — | fixed by declaration |" in text
    assert "no verdict differs" in text
    assert "tiny-seq: fixed 18 trials, 1 decided; sequential 15 trials, 1 decided (met)" in capsys.readouterr().out
    with pytest.raises(SystemExit):   # an unknown study is named before any compute
        bench.main([bench.DESIGNS, "--design-studies", "no-such-study", "--out", str(tmp_path / "c.md")])
