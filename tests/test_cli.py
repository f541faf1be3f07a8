"""The command line as a user meets it: fast help and listing, and one clear
error line (exit 2) for bad input, before any compute."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import harness_env, run_cli

pytestmark = pytest.mark.slow  # each test starts `python -m harness`: in `make test`, not `make check`

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


def test_run_without_workers_uses_the_tiers_default(home):
    from harness.run import default_workers

    for budget in ("quick", "smoke"):
        result = run_cli(home, "run", "tiny", "--budget", budget, "--no-progress")
        assert result.returncode == 0, result.stderr
        assert f"x {default_workers(budget)} worker(s)" in result.stdout, result.stdout


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


def test_every_study_of_a_run_is_checked_before_the_first_trains(home, tmp_path):
    # `home` (a made store), not `bare_home`: checking tiny opens its tracking store, and a bare home would
    # pay for creating the store's schema (MLflow's migrations) in a test that is about the order of the checks
    result = run_cli(home, "run", "tiny", "ae-vs-pca", "--budget", "smoke", "--no-progress",
                     HARNESS_FASHION_MNIST_DIR=str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "HARNESS_FASHION_MNIST_DIR" in result.stderr
    assert "trials run" not in result.stdout   # tiny, listed first, did not train


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


def test_run_then_report_regenerates_without_training(home, tiny_smoke_run):
    # the run: the session's `harness run tiny --budget smoke` (conftest.tiny_smoke_run, shared with
    # test_journal); its home (stores, journal, reports) is copied here, and the report below runs on the copy
    ran, result = tiny_smoke_run
    assert result.returncode == 0, result.stderr
    assert "TINY-WIDE" in result.stdout and "reports/smoke/tiny/report.md" in result.stdout  # the summary
    shutil.copytree(ran, home, dirs_exist_ok=True)
    first = json.loads((home / "reports" / "smoke" / "tiny" / "verdicts.json").read_text())
    (home / "reports" / "smoke" / "tiny" / "report.md").unlink()
    result = run_cli(home, "report", "tiny", "--budget", "smoke")
    assert result.returncode == 0, result.stderr
    second = json.loads((home / "reports" / "smoke" / "tiny" / "verdicts.json").read_text())
    assert (home / "reports" / "smoke" / "tiny" / "report.md").exists()
    strip = lambda doc: [{k: v for k, v in c.items()} for c in doc["claims"]]  # noqa: E731
    assert strip(first) == strip(second)


def test_report_without_runs_says_what_to_do(home):
    result = run_cli(home, "report", "tiny", "--budget", "smoke")
    assert result.returncode == 2 and "harness run tiny --budget smoke" in result.stderr


def test_a_password_in_a_storage_url_is_never_printed_and_the_real_cause_is(bare_home):
    home = bare_home
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--storage",
                     "postgresql+psycopg2://u:secret@127.0.0.1:1/db")
    assert result.returncode == 2
    assert "secret" not in result.stderr + result.stdout
    assert "postgresql+psycopg2://u:***@127.0.0.1:1/db" in result.stderr
    assert "Connection refused" in result.stderr and "Failed to import DB access module" not in result.stderr
    assert "Traceback" not in result.stderr
    # a worker, too
    result = run_cli(home, "worker", "tiny", "--budget", "smoke",
                     HARNESS_STORAGE="postgresql://u:secret@127.0.0.1:1/db")
    assert result.returncode == 2 and "secret" not in result.stderr and "u:***@127.0.0.1:1" in result.stderr


def test_a_tracking_url_with_credentials_and_no_port_gets_a_clear_redacted_error(bare_home):
    home = bare_home
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--tracking-uri", "http://u:secretpw@127.0.0.1:9")
    assert result.returncode == 2 and "unreachable" in result.stderr
    assert "secretpw" not in result.stderr and "http://u:***@127.0.0.1:9" in result.stderr
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--tracking-uri", "http://u:secretpw@127.0.0.1")
    assert "nonnumeric port" not in result.stderr and "secretpw" not in result.stderr + result.stdout
    if result.returncode:  # nothing answers on port 80 here: the error names the redacted URL
        assert "http://u:***@127.0.0.1" in result.stderr and "Traceback" not in result.stderr
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--tracking-uri", "http://u:secretpw@127.0.0.1:x5")
    assert result.returncode == 2 and "port 'x5' is not a number" in result.stderr
    assert "secretpw" not in result.stderr


def test_an_unexpected_error_prints_a_redacted_traceback(bare_home):
    code = ("from harness.cli import main\n"
            "import harness.cli as cli\n"
            "def boom(args):\n"
            "    raise RuntimeError('lost postgresql://u:secret@db/x')\n"
            "cli.cmd_report = boom\n"
            "raise SystemExit(main(['report', 'tiny']))\n")
    result = subprocess.run([sys.executable, "-c", code], env=harness_env(bare_home), capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert "postgresql://u:***@db/x" in result.stderr and "secret" not in result.stderr


def test_a_database_lost_mid_command_is_one_clear_redacted_line(monkeypatch, capsys):
    import sqlalchemy.exc

    import harness.cli as cli
    import harness.storage  # noqa: F401  (main asks it whether the error is a lost database)

    def lost(args):
        cut = Exception("server closed the connection unexpectedly (postgresql://u:secret@db/x)")
        raise sqlalchemy.exc.OperationalError("SELECT pg_try_advisory_lock(1)", {}, cut)

    monkeypatch.setattr(cli, "cmd_report", lost)
    assert cli.main(["report", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: the study storage's database failed: ") and err.count("\n") == 1
    assert "server closed the connection unexpectedly" in err and "run the same command again" in err
    assert "Traceback" not in err and "SELECT" not in err and "secret" not in err


def test_a_bad_device_is_one_clear_line(bare_home):
    result = run_cli(bare_home, "run", "tiny", "--budget", "smoke", "--device", "gpu7")
    assert result.returncode == 2 and "--device 'gpu7' is not a torch device" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (bare_home / "mlflow.db").exists()
