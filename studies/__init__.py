"""Study declarations: one module per study family.

Each module builds a ``harness.study.Study`` and calls ``register``. A new
claim is a new entry here, with no change to ``harness/``. Modules import only
light parts of the harness at top level (training code is imported inside the
trial function), so that ``harness list`` stays instant.
"""
