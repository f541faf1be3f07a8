"""Per-trial seeds: one independent stream per source of randomness.

Every trial draws its randomness from four named streams so that a study can
vary one source at a time (the ``seeds`` study) and so that arms compared
"paired by replicate" see the same data order and the same initial weights
where they share a shape. Streams are derived with ``numpy.random.SeedSequence``
from (root seed, study, replicate, stream) -- and, for arms that declare their
own ``seed_group``, that group too -- so adding an arm never changes the seeds
of another.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

STREAMS = ("init", "data_order", "noise", "subsample")


def stable_int(text: str) -> int:
    """A 63-bit integer from a string, identical across processes and runs
    (Python's ``hash`` is salted per process, so it cannot be used here)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class TrialSeeds:
    init: int        # weight initialisation (torch global RNG before the model is built)
    data_order: int  # minibatch order (a dedicated torch.Generator)
    noise: int       # dropout masks and injected noise (torch global RNG during training)
    subsample: int   # which training examples a trial uses, when it uses a subset

    def as_params(self) -> dict[str, int]:
        return {f"seed.{k}": v for k, v in asdict(self).items()}


def trial_seeds(root_seed: int, study: str, replicate: int, seed_group: str = "") -> TrialSeeds:
    """Seeds for one (study, replicate[, seed group]).

    ``seed_group`` is empty for arms that should be paired on every stream.
    An arm with a non-empty group gets its own init and noise streams but keeps
    the replicate's data order and subsample, so it stays paired on the data.
    """
    if replicate < 0:
        raise ValueError(f"replicate must be >= 0, got {replicate}")
    values = {}
    for index, stream in enumerate(STREAMS):
        key = [stable_int(study), replicate, index]
        if seed_group and stream in ("init", "noise"):
            key.append(stable_int(seed_group))
        seq = np.random.SeedSequence(entropy=root_seed, spawn_key=tuple(key))
        values[stream] = int(seq.generate_state(1, dtype="uint32")[0])
    return TrialSeeds(**values)
