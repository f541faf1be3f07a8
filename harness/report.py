"""Reports, built only from the tracking store.

``build`` reads a study's runs back (``Tracker.runs``), runs the claims'
pre-registered tests, draws the study's figures and writes
``reports/<study>/report.md``, ``verdicts.json`` and the PNGs, regenerates
``reports/index.md`` and logs the same files to the study's parent run. Since
nothing comes from memory, ``harness report`` regenerates a report without
retraining, and every number traces back to a run.
"""
from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import sequential
from harness.assessment import cached_history
from harness.claims import ALPHA, Evidence, Verdict
from harness.seednoise import seed_noise, seed_noise_table
from harness.study import Study
from harness.tracking import TAG, Tracker, latest_per_trial

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

UI_ADDRESS = "http://127.0.0.1:5000"  # where `make ui` serves the MLflow UI
SMOKE_NOTE = "smoke budget: a check of the machinery, not a result — never quote these verdicts"
QUICK_NOTE = ("quick budget: a preview, the standard protocol made smaller (fewer seeds, images, steps or searches: "
              "the study's budgets say which); its verdicts follow the same rule on that smaller evidence, and an "
              "open claim says how many replicates would settle it. The committed reports come from the standard "
              "budget")


class NoRuns(LookupError):
    """The tracking store holds no runs of the study at that budget: run it first."""


@dataclass(frozen=True)
class Figure:
    file: str
    caption: str


@dataclass
class FigureContext:
    """What a study's ``figures`` function gets: its runs and a place to draw."""

    runs: "pd.DataFrame"      # the latest finished-or-failed run per (arm, replicate)
    tracker: Tracker
    out_dir: Path
    budget: str
    tuning_runs: "pd.DataFrame | None" = None  # the tuning searches' runs, when the study has any
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="report-")))

    @property
    def finished(self) -> "pd.DataFrame":
        return self.runs[self.runs["status"] == "FINISHED"]

    def save(self, fig: Any, name: str, caption: str) -> Figure:
        import matplotlib.pyplot as plt

        fig.tight_layout()
        fig.savefig(self.out_dir / name, dpi=110)
        plt.close(fig)
        return Figure(name, caption)

    def artifact(self, run_id: str, path: str) -> Path:
        return self.tracker.download(run_id, path, self.scratch / run_id)

    def histories(self, arm: str, key: str) -> list[list[tuple[int, float]]]:
        """The (step, value) history of a metric for each finished run of an arm."""
        found = [sorted(self.tracker.metric_history(r, key))
                 for r in self.finished[self.finished["arm"] == arm]["run_id"]]
        return [h for h in found if h]

    def band(self, ax: Any, arm: str, key: str, label: str, **style: Any) -> None:
        """Plot a metric's mean over an arm's seeds against step, with a
        min–max band when there are several (curves cut to the shortest)."""
        import numpy as np

        found = self.histories(arm, key)
        if not found:
            return
        length = min(len(h) for h in found)
        steps = [s for s, _ in found[0][:length]]
        values = np.array([[v for _, v in h[:length]] for h in found])
        line, = ax.plot(steps, values.mean(0), label=label, **style)
        if len(found) > 1:
            ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2, color=line.get_color())


def _fmt(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def _run_link(experiment_id: str, run_id: str) -> str:
    return f"[{run_id[:8]}]({UI_ADDRESS}/#/experiments/{experiment_id}/runs/{run_id})"


def environment_of(runs: "pd.DataFrame") -> dict[str, str]:
    """The environment the runs recorded (tags), with every distinct value
    listed when runs disagree (e.g. two commits across a resume)."""
    env: dict[str, str] = {}
    prefix = f"tags.{TAG}"
    for column in sorted(c for c in runs.columns if c.startswith(prefix)):
        key = column[len(prefix):]
        if key.startswith(("version.", "device", "threads", "cores", "platform", "git_commit")):
            values = sorted({str(v) for v in runs[column].dropna()})
            env[key] = ", ".join(values)
    return env


def provenance_of(runs: "pd.DataFrame") -> dict[str, Any]:
    """The commits the runs came from. One clean commit makes the report's
    claims pre-registered; runs from several commits, a dirty tree or an
    unknown one make them exploratory: the protocol cannot be checked against
    one commit."""
    column = f"tags.{TAG}git_commit"
    commits = sorted({str(v) for v in runs[column].dropna()}) if column in runs else []
    source_col = f"tags.{TAG}study_source"
    sources = sorted({str(v) for v in runs[source_col].dropna()}) if source_col in runs else []
    clean = len(commits) == 1 and not commits[0].endswith("-dirty") and commits[0] != "unknown"
    if clean:
        why = f"every run came from commit {commits[0]}, a clean tree"
    elif not commits:
        why = "the runs recorded no commit"
    elif len(commits) > 1:
        why = f"the runs span {len(commits)} commits ({', '.join(c[:12] for c in commits)})"
    else:
        why = f"the runs came from {commits[0][:12]} with uncommitted changes" if commits[0] != "unknown" \
            else "the runs came from outside a git checkout"
    return {"commits": commits, "study_source": sources, "preregistered": clean, "why": why}


def claim_record(study: Study, claim, evidence: Evidence, verdict: Verdict, budget: str,
                 preregistered: bool = True) -> dict[str, Any]:
    return {
        "id": claim.id, "quote": claim.quote, "article": claim.article, "section": claim.section,
        "source": claim.source, "source_numbers": claim.source_numbers, "measure": claim.measure,
        "verdict": verdict.verdict, "reason": verdict.reason, "test": evidence.test,
        "checks": [c.as_dict() for c in verdict.checks],
        "effect": evidence.effect, "effect_note": evidence.effect_note, "null": evidence.null,
        "ci": list(verdict.ci) if verdict.ci is not None else None, "ci_method": evidence.ci_method,
        "ci_level": 1 - verdict.interval_alpha if verdict.ci is not None else None,
        "alpha": verdict.alpha, "p_value": verdict.p_value,
        "p_raw": {"support": evidence.p_support, "opposite": evidence.p_opposite,
                  "equivalence": evidence.p_equivalence},
        "n": evidence.n, "measured": evidence.measured, "lower_bounds": list(evidence.lower_bounds),
        "settle": verdict.settle,
        "preregistered": preregistered, "budget": budget, "runs": list(evidence.runs),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def build(study: Study, budget: str, tracker: Tracker, reports_root: Path) -> dict[str, Any]:
    """Write the study's report from the tracking store; return the verdicts document."""
    runs = latest_per_trial(tracker.runs(study.name, budget))
    if runs.empty:
        raise NoRuns(f"no runs of study {study.name!r} at budget {budget!r} in {tracker.uri}: "
                          f"run `harness run {study.name} --budget {budget}` first")
    replicates = runs[runs["phase"] == "replicate"]
    by_phase = {phase: runs[runs["phase"] == phase] for phase in ("replicate", "tune")}
    outcome = sequential.evaluate(study, budget, runs, cached_history(tracker))
    evidence, verdicts = outcome.evidence, outcome.verdicts
    provenance = provenance_of(runs)
    out_dir = reports_root / study.name
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    fig_ctx = FigureContext(replicates, tracker, out_dir, budget, by_phase["tune"])
    figures = study.figures(fig_ctx) if study.figures else []
    sections = study.sections(fig_ctx) if study.sections else []
    staged = study.budget(budget).sequential
    # a claim's notes read the design as it stood at the look that stopped the claim, the replicates its verdict
    # read (a later look, run for other claims, would put numbers beside the verdict that it never saw)
    read = [outcome.runs_at_stop(by_phase[claim.test.phase], i) for i, claim in enumerate(study.claims)]
    notes = [claim.notes(rows) if claim.notes else [] for claim, rows in zip(study.claims, read)]
    is_tuning = runs["phase"] == "tune"
    document = {
        "study": study.name, "title": study.title, "budget": budget,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment_of(runs), "provenance": provenance,
        "tracking_uri": tracker.uri, "experiment_id": tracker.experiment_id(study.name, create=False),
        "parent_run": tracker.find_parent(study.name, budget),
        "trials": {"finished": int((replicates["status"] == "FINISHED").sum()),
                   "failed": int((replicates["status"] != "FINISHED").sum()),
                   "tuning": int(is_tuning.sum()),
                   "tuning_failed": int((is_tuning & (runs["status"] != "FINISHED")).sum())},
        "seed_noise_reference": study.seed_noise_reference,
        "claims": [claim_record(study, c, e, v, budget, provenance["preregistered"])
                   | {"notes": n, "seed_noise": seed_noise(c, e, rows)}
                   | ({"stage": stop.as_dict(), "alpha_spent": spent} if staged else {})
                   for c, e, v, n, rows, stop, spent in zip(study.claims, evidence, verdicts, notes, read,
                                                            outcome.stops, outcome.alpha_spent)],
    }
    if staged:  # a fixed design's document keeps its old shape
        document["stages"] = {"looks": list(outcome.looks), "rule": sequential.SPENDING, "alpha": ALPHA,
                              "complete": outcome.complete, "look": outcome.look + 1,
                              "replicates": outcome.counts, "replicate_trials": outcome.replicates_used()}
    document = _json_safe(document)
    (out_dir / "verdicts.json").write_text(json.dumps(document, indent=2) + "\n")
    (out_dir / "report.md").write_text(render(study, document, figures, replicates, sections))
    write_index(reports_root)
    if document["parent_run"]:
        tracker.log_artifacts(document["parent_run"], out_dir, "report")
    return document


def _interval(c: dict[str, Any]) -> str:
    """"[lo, hi] (97.5%)", with open ends for unbounded intervals; "—" when none is shown."""
    if c.get("ci") is None:
        return "—"
    lo, hi = (("−∞" if v is None and i == 0 else "∞" if v is None else _fmt(v)) for i, v in enumerate(c["ci"]))
    return f"[{lo}, {hi}] ({_percent(c['ci_level'])})"


def _percent(level: float) -> str:
    """A coverage as a percentage to 3 significant digits, with more where
    those would round a level below 1 up to "100%" (99.965% is not 100%)."""
    digits = 3
    while level < 1 and f"{100 * level:.{digits}g}" == "100" and digits < 9:
        digits += 1
    return f"{_fmt(100 * level, digits)}%"


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(study: Study, doc: dict[str, Any], figures: list[Figure], runs: "pd.DataFrame",
           sections: list[str] = ()) -> str:
    smoke = doc["budget"] == "smoke"
    experiment = doc["experiment_id"]
    provenance = doc.get("provenance") or {}
    lines = [f"# {study.title}", "", f"*Study `{study.name}`, budget `{doc['budget']}`, generated "
             f"{doc['generated_at']} from the tracking store by `harness report {study.name}`.*", ""]
    if smoke:
        lines += [f"> **{SMOKE_NOTE}.**", ""]
    elif doc["budget"] == "quick":
        lines += [f"> **{QUICK_NOTE}.**", ""]
    if provenance.get("preregistered"):
        lines += [f"Pre-registered: {provenance['why']}; the study's source hash is "
                  f"{', '.join(provenance['study_source']) or 'unrecorded'}.", ""]
    else:
        lines += [f"> **Exploratory:** {provenance.get('why', 'no provenance recorded')}, so the protocol cannot be "
                  "checked against one commit. Re-run from a clean checkout for pre-registered verdicts.", ""]
    budget = study.budget(doc["budget"])
    settings = ", ".join(f"{k}={v}" for k, v in budget.values.items())
    tuning = ""
    if budget.tuning_trials and study.tuning:
        tuned = {a.name: a.tuning_trials(budget) for a in study.design(doc["budget"]) if a.name in study.tuning.arms}
        if len(set(tuned.values())) == 1:  # one count for every tuned arm, the budget's or the arms' own
            tuning = f", {next(iter(tuned.values()))} tuning trials per tuned arm"
        else:
            own = {name: n for name, n in tuned.items() if n != budget.tuning_trials}
            tuning = (f", {budget.tuning_trials} tuning trials per tuned arm except "
                      f"{', '.join(f'`{name}` {n}' for name, n in own.items())}")
    lines += [study.summary.strip(), "", f"Budget `{doc['budget']}`: up to {budget.replicates} replicates per arm"
              f"{tuning}; settings: {settings}.", ""]
    stages = doc.get("stages")
    if stages:
        state = ("every claim stopped" if stages["complete"]
                 else f"look {stages['look']} of {len(stages['looks'])} is running")
        lines += [f"Sequential design: looks at {', '.join(map(str, stages['looks']))} replicates; {stages['rule']} "
                  f"(README, \"Verdicts\"). A claim stops when it is decided or its checks fail; an arm gets more "
                  f"replicates only while an undecided claim reads it. {stages['replicate_trials']} replicate "
                  f"trials {'in all' if stages['complete'] else 'planned so far'} ({state}).", ""]
    lines += ["## Verdicts", "",
              "Each interval is the test's own, at the claim's level after Holm (README, \"Verdicts\").", "",
              f"| claim | verdict | effect | interval | p ({'adjusted' if stages else 'Holm'}) | n | checks |"
              + (" stopped |" if stages else ""),
              "| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if stages else "")]
    for c in doc["claims"]:
        failed = [k for k in c["checks"] if not k["passed"]]
        checks = f"{len(c['checks']) - len(failed)}/{len(c['checks'])} passed"
        stopped = f" look {c['stage']['look']}/{c['stage']['looks']}: {c['stage']['why']} |" if stages else ""
        lines.append(f"| [{c['id']}](#{c['id'].lower()}) | **{c['verdict']}**{' (smoke)' if smoke else ''}"
                     f"{'' if c.get('preregistered', True) else ' (exploratory)'} | {_fmt(c['effect'])} | "
                     f"{_interval(c)} | {_fmt(c['p_value'], 3)} | {c['n']} | {checks} |{stopped}")
    trials = doc["trials"]
    searched = ""
    if trials["tuning"]:
        failed = trials["tuning_failed"]  # a failed tuning trial (an error, a NaN) is recorded, not dropped
        searched = f"; {trials['tuning']} tuning trials" + (f", {failed} of them failed" if failed else "")
    lines += ["", f"Trials: {trials['finished']} replicate trials finished, {trials['failed']} failed{searched}. "
              f"MLflow experiment `{study.name}` (id {experiment}), parent run `{doc['parent_run']}`; "
              f"open them with `make ui`.", ""]
    for c in doc["claims"]:
        lines += _render_claim(c, experiment, smoke)
    lines += list(sections)
    if figures:
        lines += ["## Figures", ""]
        for f in figures:
            lines += [f"![{f.caption}]({f.file})", "", f"*{f.caption}*", ""]
    failed = runs[runs["status"] != "FINISHED"]
    if not failed.empty:
        lines += ["## Failed trials", "", "| run | arm | replicate | reason |", "| --- | --- | --- | --- |"]
        reason_col = f"tags.{TAG}fail_reason"
        for _, row in failed.iterrows():
            reason = row.get(reason_col, "") if reason_col in failed.columns else ""
            lines.append(f"| {_run_link(experiment, row['run_id'])} | {row['arm']} | {row['replicate']} | "
                         f"{_cell(reason)} |")
        lines.append("")
    lines += ["## Environment", "", "| what | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in doc["environment"].items()]
    lines += ["", f"Tracking store: `{doc['tracking_uri']}`.", ""]
    return "\n".join(lines)


def _render_claim(c: dict[str, Any], experiment: str, smoke: bool) -> list[str]:
    quote = c["quote"].replace("\n", " ")
    runs = ", ".join(_run_link(experiment, r) for r in c["runs"])
    verdict = c["verdict"] + (" (smoke budget: not a result)" if smoke else "")
    if not c.get("preregistered", True):
        verdict += " (exploratory)"
    bounds = set(c.get("lower_bounds") or ())  # means over capped runs: at least this much
    measured = "; ".join(f"`{arm}` {'≥ ' if arm in bounds else ''}{_fmt(v)}" for arm, v in c["measured"].items())
    tolerance = c["reason"].startswith("tolerance check")  # an identity: no statistics, so no interval or share of α
    if c.get("ci") is not None:
        which = "equivalence (TOST)" if c["verdict"] == "not reproduced" else "directional"
        # α is the study's error rate throughout; the claim's own level (its share of α after Holm) is "its level"
        adjusted = (f"{which} p × α / its level at its look, below α exactly when decided" if c.get("stage")
                    else f"{which}, Holm-adjusted within the study")
        result = (f"effect {_fmt(c['effect'])} (no effect: {_fmt(c['null'])}), {_interval(c)} "
                  f"{c['ci_method']}; p = {_fmt(c['p_value'], 3)} ({adjusted}; "
                  f"its level {_fmt(c['alpha'], 3)}), n = {c['n']}, budget `{c['budget']}`.")
    else:
        why = ("the comparison is invalid" if c["reason"].startswith("invalid")
               else "a tolerance check has no statistics" if tolerance
               else "no test was run")
        result = f"effect {_fmt(c['effect'])}, n = {c['n']}, budget `{c['budget']}`; no interval shown: {why}."
    if c.get("effect_note"):
        result += f" {c['effect_note']}."
    lines = [f"## {c['id']}", "", f"> {quote}", "", f"— *{c['article']}*, § {c['section']}", "",
             f"**Primary source.** {c['source']}. Its numbers: {c['source_numbers']}", "",
             f"**What we measured.** {c['measure']} Means per arm: {measured}.", "",
             f"**Pre-registered test.** {c['test']}.", "", "**Checks.**", ""]
    lines += [f"- {'✓' if k['passed'] else '✗'} `{k['name']}` — {k['detail']}" for k in c["checks"]]
    if c.get("stage"):
        stage = c["stage"]
        # a test that reads no replicates reads tuning trials, which all run before the first look
        per_arm = (", ".join(f"`{a}` {n}" for a, n in stage["replicates"].items())
                   or "none (its test reads tuning trials, all run before the first look)")
        spent = ", ".join(_fmt(a, 2) for a in c.get("alpha_spent") or []) or "none"
        share = "" if tolerance else f" Its share of α at each look evaluated: {spent}."
        lines += ["", f"**Stopped.** Look {stage['look']} of {stage['looks']}: {stage['why']}"
                      f"{' (' + stage['detail'] + ')' if stage['detail'] else ''}. Replicates read: {per_arm}."
                      + share]
    lines += ["", f"**Result.** {result}", "", f"**Verdict: {verdict}** — {c['reason']}"
              + (f"; {c['settle']}" if c.get("settle") else "") + _within_margin(c) + ".", ""]
    for note in c.get("notes") or []:
        lines += [f"- {note}"]
    if c.get("notes"):
        lines.append("")
    lines += [f"**Runs.** {runs or 'none'}", ""]
    return lines


def _within_margin(c: dict[str, Any]) -> str:
    """For a claim contradicted by a significant opposite effect whose test
    declared an equivalence margin: whether that effect also lies within the
    margin (TOST at the claim's own level). The verdict stands -- the effect
    is real and against the claim -- but its size is one the claim's margin
    counts as no practical difference, and the reader should see both."""
    p_eq = (c.get("p_raw") or {}).get("equivalence")
    alpha = c.get("alpha")
    if c["verdict"] != "contradicted" or p_eq is None or alpha is None or not p_eq < alpha:
        return ""
    return (f"; the effect also lies within the pre-registered equivalence margin (TOST p = {_fmt(p_eq, 3)} < its "
            f"level {_fmt(alpha, 3)}): significant against the claim, but no larger than the difference the margin "
            "counts as none")


def write_index(reports_root: Path) -> Path:
    """``reports/index.md``: every claim of every study in one table, then
    their effects beside seed noise (``harness.seednoise``)."""
    rows = []
    docs = [json.loads(path.read_text()) for path in sorted(reports_root.glob("*/verdicts.json"))]
    for doc in docs:
        for c in doc["claims"]:
            rows.append(f"| [{doc['study']}]({doc['study']}/report.md) | {c['id']} | **{c['verdict']}** | "
                        f"{_fmt(c['effect'])} | {_interval(c)} | {_fmt(c['p_value'], 3)} | "
                        f"{c['n']} | {doc['budget']} |")
    text = "\n".join([
        "# Reproducibility reports", "",
        "Every claim of every study, as last generated from the tracking store (`make report`).", "",
        "| study | claim | verdict | effect | interval (claim's level) | p (Holm) | n | budget |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |", *rows, "", *seed_noise_table(docs)])
    index = reports_root / "index.md"
    index.write_text(text)
    return index
