"""What a result records about the code that ran it: the commit (dirty only
when code changed, not when the harness rewrote its own reports) and the
study's source hash."""
from __future__ import annotations

import subprocess
import sys
import types

import pytest

from harness import provenance


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "index.md").write_text("old\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "first")
    monkeypatch.setattr(provenance, "PROJECT_ROOT", tmp_path)
    provenance.git_commit.cache_clear()
    yield tmp_path
    provenance.git_commit.cache_clear()


def test_regenerated_reports_do_not_make_the_tree_dirty(repo):
    head = provenance.git_commit()
    assert len(head) == 40 and not head.endswith("-dirty")
    (repo / "reports" / "index.md").write_text("new\n")
    (repo / "reports" / "index.md").unlink()  # verify-reports moves the committed reports aside
    provenance.git_commit.cache_clear()
    assert provenance.git_commit() == head


def test_changed_code_makes_it_dirty(repo):
    (repo / "code.py").write_text("x = 2\n")
    assert provenance.git_commit().endswith("-dirty")


def test_study_source_hash_covers_the_module_and_changes_with_it(tmp_path, monkeypatch):
    module = tmp_path / "study_mod.py"
    module.write_text("def run_trial(ctx):\n    return {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = __import__("study_mod")
    study = types.SimpleNamespace(run_trial=mod.run_trial)
    assert provenance.study_source_files(study) == [module]
    before = provenance.study_source_hash(study)
    module.write_text("def run_trial(ctx):\n    return {'changed': 1}\n")
    assert provenance.study_source_hash(study) != before
    sys.modules.pop("study_mod", None)
