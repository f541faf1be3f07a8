"""Study declarations: one package per study family (``studies/<name>/``).

Each package's ``__init__`` builds a ``harness.study.Study`` and calls
``register``; its trials, figures, notes and typed ``Settings`` sit beside it
(see ``studies/dropout/`` and the README's "A new study"). A new claim is a new
entry in a declaration, with no change to ``harness/``. Declarations import
only light parts of the harness at top level (training code is imported
inside the trial functions), so that ``harness list`` stays instant.
"""
