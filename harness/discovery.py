"""Finding studies: the registry every study module adds itself to, and the
loader that imports the ``studies`` package (plus any modules named in
``$HARNESS_STUDY_MODULES``) so that they do.

The one place the core reaches into the plug-in package, and only when asked:
``harness list`` and ``harness run`` call ``load_studies``; importing the
harness never does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from harness.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from harness.study import Study

STUDIES: Registry[Study] = Registry("study")


def register(study: Study) -> Study:
    """Register a study declaration; each module in ``studies/`` calls this."""
    STUDIES.add(study.name, study)
    return study


STUDY_MODULES_ENV = "HARNESS_STUDY_MODULES"  # extra, comma-separated modules that register studies


def load_studies() -> Registry[Study]:
    """Import every module of the ``studies`` package so that it registers,
    plus any modules named in $HARNESS_STUDY_MODULES (studies kept outside
    this repository, and the tests' own tiny study)."""
    import importlib
    import os
    import pkgutil

    import studies

    names = [f"studies.{m.name}" for m in pkgutil.iter_modules(studies.__path__) if not m.name.startswith("_")]
    names += [n.strip() for n in os.environ.get(STUDY_MODULES_ENV, "").split(",") if n.strip()]
    for name in names:
        importlib.import_module(name)  # a module registers once: Python caches imports
    return STUDIES


def get_study(name: str) -> Study:
    return load_studies().get(name)
