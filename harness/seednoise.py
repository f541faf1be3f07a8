"""Seed noise beside the claimed effects.

Each report records, per claim, the seed-to-seed spread of the claim's metric
within its own arms on the replicates its verdict read (``seed_noise`` in
``verdicts.json``); ``reports/index.md`` then sets every study's claimed
effects beside that spread and beside a reference spread per data set (the
arms of the claim a study names as ``seed_noise_reference``: the seeds
study's SEED-SENS). The table lives in the index, not in one study's report,
because the reports are generated study by study, each from its own tracking
store: only the committed documents are all in one place.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from harness.claims import CLAIMED
from harness.claimtests import Better, BetterEverywhere, Shrinks, Similar

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.claims import Claim, Evidence

# metrics on one scale (a fraction of examples), so a difference in one compares with a spread in another
ACCURACY_METRICS = {"test_acc", "test_accuracy", "test_error", "val_acc", "val_accuracy", "val_error"}
# the tests whose effect is a difference of the metric's means (paired, per pair, or of two differences)
DIFFERENCE_TESTS = (Better, BetterEverywhere, Similar, Shrinks)
DIGEST_TAG = "tags.harness.dataset_digest"  # each run: its subsets' and its full data set's digests, comma-separated


def dataset_digests(rows: "pd.DataFrame") -> set[str]:
    """The data digests the runs record (a subset run records its full data
    set's digest too, so it matches a reference trained on all of it)."""
    if DIGEST_TAG not in rows:
        return set()
    return {d for value in rows[DIGEST_TAG].dropna() for d in str(value).split(",") if d}


def seed_noise(claim: "Claim", evidence: "Evidence", read: "pd.DataFrame") -> dict[str, Any] | None:
    """The spread of the claim's metric over seeds within each of its arms, on
    ``read`` (the replicates its verdict read), pooled over the arms; for a
    difference in the metric (``DIFFERENCE_TESTS``; the other tests' effects
    are shares, ratios, slopes or levels) also the seeds its own test needs to
    detect the effect at 80% power, one-sided at 0.025 and unadjusted. None
    for a claim with no replicate metric (a search's, a tuning table's)."""
    test = claim.test
    column = f"metrics.{getattr(test, 'metric', '')}"
    arms = sorted(test.arms())
    if not arms or test.phase != "replicate" or column not in read:
        return None
    rows = read[read["arm"].isin(arms) & (read["status"] == "FINISHED")]
    per_arm, groups = {}, []
    for arm, group in rows.groupby("arm"):
        values = group[column].dropna().to_numpy(dtype=float)
        per_arm[arm] = {"n": len(values), "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
                        "data": sorted(dataset_digests(group))}
        if len(values) > 1:
            groups.append(values)
    if not groups:
        return None
    pooled = math.sqrt(sum((len(g) - 1) * g.var(ddof=1) for g in groups) / sum(len(g) - 1 for g in groups))
    difference = isinstance(test, DIFFERENCE_TESTS)
    needed = (evidence.settle(0.025, CLAIMED) if difference and evidence.settle and math.isfinite(evidence.effect)
              else None)
    return {"metric": test.metric, "test": type(test).__name__, "kind": "difference" if difference else "other",
            "pooled_sd": pooled, "seeds_needed": needed, "arms": per_arm}


def _reference_spreads(docs: list[dict[str, Any]]) -> list[tuple[str, str, float, set[str], str]]:
    """(study, arm, SD, data digests, budget) of each reference arm: the arms of
    the claim a study names as its ``seed_noise_reference``."""
    found = []
    for doc in docs:
        name = doc.get("seed_noise_reference")
        claim = next((c for c in doc["claims"] if c["id"] == name), None)
        noise = (claim or {}).get("seed_noise") or {}
        for arm, spread in (noise.get("arms") or {}).items():
            if spread["sd"]:
                found.append((doc["study"], arm, spread["sd"], set(spread["data"]), doc["budget"]))
    return found


def seed_noise_table(docs: list[dict[str, Any]]) -> list[str]:
    """The index's section: per claim with a replicate metric, its effect, the
    pooled seed SD of its own arms, their ratio, the seeds needed and, for an
    accuracy or error metric, the effect against the reference spread of the
    same data set at the same budget. Reports written before ``seed_noise``
    existed are named, not guessed at."""
    references = _reference_spreads(docs)
    named = ", ".join(f"`{arm}` ({study}, {budget}) SD {sd:.4f}" for study, arm, sd, _, budget in references)
    lines = ["## Seed noise beside the claimed effects", "",
             "*Effect* is the claim's as its verdict has it (at the look that stopped it); *seed SD* is the "
             "seed-to-seed SD of the claim's metric within its own arms (pooled, on the replicates the verdict "
             "read); a claimed difference whose |effect| is below it is smaller than seed noise for a single run, "
             "and *seeds needed* (80% power, paired, one-sided at 0.025, unadjusted; from the claim's own test) says "
             "how many seeds detect it (– where the effect is zero or points against the claim: no number of seeds "
             "detects it in the claimed direction). A claim whose effect is not a difference in its metric (a ratio, a slope, a "
             "level against a fixed bound) shows its seed SD alone. For accuracy and error metrics the last column "
             "divides the difference by the reference seed "
             f"spread on the same data set at the same budget ({named or 'no report names a reference'}); – where "
             "none matches.", "",
             "| study | claim | metric | effect | seed SD | abs(effect) / seed SD | seeds needed | vs reference SD |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    older = []
    for doc in docs:
        if not any("seed_noise" in c for c in doc["claims"]):
            older.append(doc["study"])
            continue
        for c in doc["claims"]:
            noise = c.get("seed_noise")
            if not noise or c.get("effect") is None:
                continue
            ratio, versus = f"– ({noise['test']}: not a difference in the metric)", "–"
            if noise["kind"] == "difference":
                value = abs(c["effect"]) / noise["pooled_sd"] if noise["pooled_sd"] > 0 else math.inf
                ratio = f"{value:.2g}" + (" (**below seed noise**)" if value < 1 else "")
                data = {d for spread in noise["arms"].values() for d in spread["data"]}
                match = next((r for r in references if r[3] & data and r[4] == doc["budget"]), None)
                if noise["metric"] in ACCURACY_METRICS and match:
                    versus = f"{abs(c['effect']) / match[2]:.2g}x (`{match[1]}`)"
            needed = noise["seeds_needed"] if noise["seeds_needed"] is not None else "–"
            lines.append(f"| {doc['study']} | {c['id']} | {noise['metric']} | {c['effect']:.4g} | "
                         f"{noise['pooled_sd']:.4g} | {ratio} | {needed} | {versus} |")
    if older:
        lines += ["", f"Not in the table: {', '.join(f'`{s}`' for s in older)}, whose report was written before "
                      "reports recorded seed noise (`make report` rewrites it from its tracking store)."]
    return lines + [""]
