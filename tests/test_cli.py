"""The command line as a user meets it: fast help and listing, and one clear
error line (exit 2) for bad input, before any compute."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import harness_env, run_cli

HEAVY = ("torch", "mlflow", "sklearn", "pandas")


def test_help_and_list_import_no_heavy_library(home):
    code = ("import sys; from harness.cli import main\n"
            "for argv in (['list'], ['list', 'studies'], ['list', 'models'], ['list', 'datasets']):\n"
            "    main(argv)\n"
            f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], env=harness_env(home), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("HEAVY="), result.stdout
    assert "ae-vs-pca" in result.stdout and "fashion-mnist" in result.stdout and "deep-ae" in result.stdout
    help_text = run_cli(home, "--help")
    assert help_text.returncode == 0 and "run" in help_text.stdout and "report" in help_text.stdout


def test_unknown_study_names_the_known_ones(home):
    result = run_cli(home, "run", "ae-vs-pac", "--budget", "smoke")
    assert result.returncode == 2
    assert "unknown study 'ae-vs-pac'" in result.stderr and "Did you mean 'ae-vs-pca'" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_budget_and_workers_are_rejected(bare_home):
    home = bare_home
    result = run_cli(home, "run", "tiny", "--budget", "huge")
    assert result.returncode == 2 and "invalid choice: 'huge'" in result.stderr
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--workers", "0")
    assert result.returncode == 2 and "--workers must be a positive integer" in result.stderr
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--ensemble", "-3")
    assert result.returncode == 2 and "--ensemble must be a positive integer" in result.stderr
    result = run_cli(home, "worker", "tiny", "--budget", "smoke", "--threads", "0")
    assert result.returncode == 2 and "--threads must be >= 1" in result.stderr
    assert not (home / "mlflow.db").exists()  # nothing was started


def test_bad_urls_are_rejected_before_compute(bare_home):
    home = bare_home
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--tracking-uri", "ftp://example.org/mlflow")
    assert result.returncode == 2 and "unsupported scheme" in result.stderr
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--storage", "postgresql://nobody@127.0.0.1:9/x")
    assert result.returncode == 2 and "cannot open Optuna storage" in result.stderr
    assert not (home / "mlflow.db").exists() and not (home / ".harness" / "scratch").exists()


def test_path_like_study_name_is_rejected(home):
    result = run_cli(home, "run", "../etc", "--budget", "smoke")
    assert result.returncode == 2 and "unknown study" in result.stderr


def test_missing_data_stops_before_compute(bare_home, tmp_path):
    home = bare_home
    result = run_cli(home, "run", "ae-vs-pca", "--budget", "smoke",
                     HARNESS_FASHION_MNIST_DIR=str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "HARNESS_FASHION_MNIST_DIR" in result.stderr
    assert not (home / "mlflow.db").exists() and not (home / ".harness" / "optuna.journal").exists()


def test_unwritable_or_unreachable_tracking_stops_before_compute(bare_home):
    home = bare_home
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--tracking-uri",
                     f"sqlite:///{home}/no/such/folder/mlflow.db")
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--tracking-uri", "http://127.0.0.1:9")
    assert result.returncode == 2 and "unreachable" in result.stderr
    assert not (home / ".harness" / "scratch").exists()


def test_bad_storage_url_is_rejected(home):
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--storage", "redis://localhost/0")
    assert result.returncode == 2 and "unsupported storage" in result.stderr


def test_run_then_report_regenerates_without_training(home):
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "TINY-WIDE" in result.stdout and "reports/tiny/report.md" in result.stdout  # the summary
    first = json.loads((home / "reports" / "tiny" / "verdicts.json").read_text())
    (home / "reports" / "tiny" / "report.md").unlink()
    result = run_cli(home, "report", "tiny", "--budget", "smoke")
    assert result.returncode == 0, result.stderr
    second = json.loads((home / "reports" / "tiny" / "verdicts.json").read_text())
    assert (home / "reports" / "tiny" / "report.md").exists()
    strip = lambda doc: [{k: v for k, v in c.items()} for c in doc["claims"]]  # noqa: E731
    assert strip(first) == strip(second)


def test_report_without_runs_says_what_to_do(home):
    result = run_cli(home, "report", "tiny", "--budget", "smoke")
    assert result.returncode == 2 and "harness run tiny --budget smoke" in result.stderr
