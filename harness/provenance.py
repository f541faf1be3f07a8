"""What ran a result: library versions, device, threads, git commit.

Recorded as tags on every MLflow run and printed in every report
(airbench-style: "runs in … using torch==…, n=…").
"""
from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("torch", "mlflow", "optuna", "numpy", "scipy", "pandas", "scikit-learn")


@lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD's hash, with ``-dirty`` when the tree has uncommitted changes to tracked files."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def study_source_files(study) -> list[Path]:
    """The files that define a study: the module of its trial function, or every
    ``.py`` file of its package when that module is a package's ``__init__``."""
    module = sys.modules.get(getattr(study.run_trial, "__module__", ""), None)
    path = Path(getattr(module, "__file__", "") or "")
    if not path.is_file():
        return []
    if path.name == "__init__.py":
        return sorted(path.parent.rglob("*.py"))
    return [path]


def study_source_hash(study) -> str:
    """SHA-256 (16 hex digits) of the study's source: part of every arm's design
    fingerprint, so a protocol edited after its runs started cannot be resumed
    into the same verdict (pre-registration)."""
    digest = hashlib.sha256()
    for path in study_source_files(study):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return cpu_name()


def environment(device: str, threads: int) -> dict[str, str]:
    """Flat string dict, suitable for MLflow tags (prefixed by the caller)."""
    import os

    env = {f"version.{k}": v for k, v in versions().items()}
    env.update({
        "device": device,
        "device_name": device_name(device),
        "threads": str(threads),
        "cores": str(os.cpu_count()),
        "platform": platform.platform(),
        "git_commit": git_commit(),
    })
    return env
