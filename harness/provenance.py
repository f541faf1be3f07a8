"""What ran a result: library versions, device, threads, git commit.

Recorded as tags on every MLflow run and printed in every report
(airbench-style: "runs in … using torch==…, n=…").
"""
from __future__ import annotations

import platform
import subprocess
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
