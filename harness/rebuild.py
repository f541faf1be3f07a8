"""Rebuild one study's Optuna state at one budget from the MLflow store
(``harness rebuild STUDY --budget B``), so that a lost or damaged journal (or
database) loses no finished work: the next ``harness run`` trains only what
is missing.

MLflow holds every finished trial's results; the Optuna storage holds the
queue. For each key (arm, replicate) with a FINISHED trial run, the rebuild
writes one COMPLETE trial carrying what the sweep records on a COMPLETE trial
(``Runner._tell``): ``key``, ``arm``, ``replicate``, ``mlflow_run_id``,
``metric.*`` (the run's final metrics, named by its ``harness.final_metrics``
tag; a tuning trial also its ``draw``) and, as its value, the first final metric; ``worker`` says it was
rebuilt (MLflow does not record the worker). Tuning runs rebuild each tuned
arm's search (params and distributions by replaying the study's search space
against the run's ``hp.*`` params, ``hyperparams``, and the recorded tuned
values, ``TUNED_ATTR``, so a resume does not tune again). Trials keep the
numbers their runs recorded (``optuna.trial_number``); a gap is filled by a
FAIL trial without a key, which the queue ignores.

Which run, when a key has several FINISHED runs: the sweep tells Optuna a
trial is COMPLETE before it closes the run, and never runs a COMPLETE key
again, so a second FINISHED run for a key means the first was not recorded
(a lost journal, or an older version that closed runs first) and the key ran
again: the later run is the recorded one, which is also the run the report
uses (``tracking.latest_per_trial``). When the later run started before an
earlier one ended, the two ran at once and which one Optuna kept cannot be
told: the rebuild refuses and names both.

The design record (``design:``/``settings:`` study attributes) is never
fabricated for a changed protocol: every run used must carry the study's
current source hash (``harness.study_source``) and have logged the current
settings, its arm's current config and the seeds the root seed gives now;
otherwise nothing is written and the message says what differs. Nothing is
written either when the target studies already hold trials. MLflow is only read.
"""
from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from harness import provenance
from harness.redact import redact
from harness.seeding import trial_seeds
from harness.storage import journal_path, resolve_storage
from harness.study import Arm, Study
from harness.sweep import TUNED_ATTR, TUNING_REPLICATE_OFFSET, Runner, SweepOptions
from harness.tracking import (FINAL_METRICS, TAG, Tracker, check_tracking_uri, final_metric_names,
                              resolve_tracking_uri)
from harness.tracking import _flat as flat  # how a value was written as an MLflow param: compare as written
from harness.trialqueue import optuna_study_name, stage_of, trial_key

REBUILT_WORKER = "rebuilt from MLflow"  # the `worker` user attribute: MLflow does not record the original one
REBUILT_ATTR = "rebuilt"  # a rebuilt design study's user attribute: from which store, when, how many trials
GAP_REASON = "rebuilt from MLflow: trial {number} left no FINISHED run (it failed, was interrupted or is lost)"


class RebuildRefused(RuntimeError):
    """The rebuild would be wrong or would overwrite something; nothing was
    written. The message says why and what to do."""


@dataclass
class _Trial:
    """A COMPLETE trial to write, from one FINISHED run."""

    run_id: str
    number: int | None  # the trial number the run recorded (``optuna.trial_number``)
    start: int          # ms
    end: int | None
    value: float
    user_attrs: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)

    def frozen(self) -> FrozenTrial:
        trial = optuna.trial.create_trial(state=TrialState.COMPLETE, value=self.value, params=self.params,
                                          distributions=self.distributions, user_attrs=self.user_attrs,
                                          system_attrs=self.system_attrs)
        trial.datetime_start = _time(self.start)
        if self.end is not None and self.end >= self.start:
            trial.datetime_complete = _time(self.end)
        return trial


@dataclass
class Rebuilt:
    """What a rebuild wrote, for the command's summary."""

    study: str
    budget: str
    storage: str                  # redacted
    tracking: str                 # redacted
    design: int                   # COMPLETE trials in the design study
    keys: int                     # keys the design has at this budget
    missing: list[str]            # of those (a sequential design: its looks so far), keys with no FINISHED run
    tuning: dict[str, int]        # tuned arm -> COMPLETE tuning trials
    tuned: dict[str, int | None]  # tuned arm -> the trial its recorded values came from (None: search resumes)
    renumbered: int               # trials whose recorded number was taken (runs from two storages)
    notes: list[str]

    def lines(self, storage_given: bool) -> list[str]:
        out = [f"{self.study} [{self.budget}]: rebuilt {self.design} COMPLETE trial(s) of "
               f"{optuna_study_name(self.study, self.budget)} from the FINISHED runs in {self.tracking}, "
               f"into {self.storage}"]
        for arm, count in sorted(self.tuning.items()):
            source = self.tuned.get(arm)
            state = (f"tuned values recorded (trial {source})" if source is not None
                     else "no tuned values recorded: the next run finishes the search")
            out.append(f"  tuning {arm}: {count} COMPLETE trial(s), {state}")
        if self.renumbered:
            out.append(f"  {self.renumbered} trial(s) took a new number (their recorded one was taken: runs from "
                       "more than one storage)")
        out += [f"  note: {n}" for n in self.notes]
        again = " with the same --storage" if storage_given else ""
        todo = f"the {len(self.missing)} key(s) without a finished run" if self.missing else "nothing"
        out.append(f"next: `harness run {self.study} --budget {self.budget}`{again} trains {todo}"
                   + (f" ({', '.join(self.missing[:6])}{', …' if len(self.missing) > 6 else ''})" if self.missing
                      else " and writes the report"))
        return out


def rebuild(study: Study, budget: str, storage: str | None = None, tracking_uri: str | None = None) -> Rebuilt:
    """Recreate ``study``'s Optuna state at ``budget`` from its MLflow runs
    into an empty study of ``storage``; raises ``RebuildRefused`` (writing
    nothing) when a run does not match the current protocol, when a key's
    recorded run is ambiguous, or when the target already holds trials."""
    from harness import paths

    arms = study.design(budget)  # checks the budget name too
    uri = resolve_tracking_uri(tracking_uri, paths.home())
    check_tracking_uri(uri)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        raise RebuildRefused(f"no MLflow tracking store at {uri[len('sqlite:///'):]}: nothing to rebuild from; "
                             "pass --tracking-uri")
    tracker = Tracker(uri)
    runs = tracker.trial_runs(study.name, budget)
    parent = tracker.find_parent(study.name, budget)
    parent_params = dict(tracker.client.get_run(parent).data.params) if parent else {}
    plan = _plan(study, budget, arms, runs, parent_params)
    if not plan.design and not any(plan.tuning.values()):
        raise RebuildRefused(f"no FINISHED trial run of study {study.name!r} at budget {budget!r} in {tracker.uri}: "
                             "nothing to rebuild (check --budget and --tracking-uri)")

    # the layouts and tuned records are checked too before anything is written
    tuning = {arm: _layout(trials) for arm, trials in plan.tuning.items()}
    records = {arm: _tuned_record(arm, sequence, plan.truth.get(arm), study.tuning.direction)
               for arm, (sequence, _) in tuning.items()}
    design, moved = _layout(plan.design)
    renumbered = moved + sum(later for _, later in tuning.values())

    url = resolve_storage(storage)
    # opening the storage (and, for a journal, creating its file) is the first write: every check above passed
    runner = Runner(study, SweepOptions(budget, url, uri, show_progress=False), tracker, parent or "")
    names = [optuna_study_name(study.name, budget),
             *(_tuning_name(study, budget, a) for a in _tuned_arms(study, budget, arms))]
    _refuse_unless_empty(runner.storage, names, url, study.name, budget)
    with runner.lock.hold(names[0], "rebuilding"):
        _refuse_unless_empty(runner.storage, names, url, study.name, budget)  # a worker may have started meanwhile
        ostudy = runner.design_study()
        # the design record, as the first enqueue writes it (DesignChanged if an empty study holds another one)
        runner.check_design(ostudy, [a for a in arms if a.name in plan.recorded_arms])
        for arm_name, (sequence, _) in tuning.items():
            tstudy = optuna.create_study(study_name=_tuning_name(study, budget, arm_name), storage=runner.storage,
                                         load_if_exists=True, direction=study.tuning.direction)
            _add(tstudy, sequence)
            if records[arm_name] is not None:
                tstudy.set_user_attr(TUNED_ATTR, records[arm_name])
        _add(ostudy, design)
        ostudy.set_user_attr(REBUILT_ATTR, {"tracking_uri": tracker.uri, "trials": len(plan.design),
                                            "at": datetime.datetime.now(datetime.timezone.utc).isoformat()})
    counts = {a.name: a.replicates(study.budget(budget)) for a in arms}
    if study.budget(budget).sequential:  # only what the looks reached so far, not every arm's maximum
        from harness import sequential

        counts = sequential.evaluate_store(study, budget, tracker).counts
    keys = [trial_key(a.name, r) for a in arms for r in range(counts[a.name])]
    done = {t.user_attrs["key"] for t in plan.design}
    return Rebuilt(study.name, budget, redact(url), tracker.uri, len(plan.design), len(keys),
                   [k for k in keys if k not in done], {a: len(t) for a, t in plan.tuning.items()},
                   {a: r["trial"] if r else None for a, r in records.items()}, renumbered, plan.notes)


# -- planning: read and check every run before anything is written ------------------------------------------------
@dataclass
class _Plan:
    design: list[_Trial]
    tuning: dict[str, list[_Trial]]
    truth: dict[str, dict[str, str]]  # tuned arm -> its tuned values as logged (flattened), where recorded
    recorded_arms: set[str]           # arms whose design record the rebuild writes
    notes: list[str]


def _plan(study: Study, budget_name: str, arms: list[Arm], runs: list, parent_params: Mapping[str, str]) -> _Plan:
    by_name = {a.name: a for a in arms}
    tuned_arms = _tuned_arms(study, budget_name, arms)
    design_name = optuna_study_name(study.name, budget_name)
    groups: dict[tuple[str, str, int], list] = defaultdict(list)
    other_arms: set[str] = set()
    unfinished: dict[str, int] = defaultdict(int)
    for run in runs:
        tags = run.data.tags
        phase, arm = tags.get(TAG + "phase"), tags.get(TAG + "arm")
        if run.info.status != "FINISHED":
            unfinished[run.info.status] += 1
            continue
        if arm not in by_name or (phase == "tune" and arm not in tuned_arms):
            other_arms.add(f"{arm} ({phase})")
            continue
        expected = design_name if phase == "replicate" else _tuning_name(study, budget_name, arm)
        if phase not in ("replicate", "tune") or tags.get("optuna.study") != expected:
            raise RebuildRefused(f"run {run.info.run_id} of study {study.name!r} (phase {phase!r}, Optuna study "
                                 f"{tags.get('optuna.study')!r}) is not a trial run of {expected!r}: the store "
                                 "holds runs the harness did not write this way; remove it to rebuild")
        slot = int(tags[TAG + "replicate"]) if phase == "replicate" else _number(run)
        if slot is None:
            raise RebuildRefused(f"tuning run {run.info.run_id} of arm {arm!r} recorded no optuna.trial_number")
        groups[(phase, arm, slot)].append(run)

    chosen = {group: _choose(group, candidates) for group, candidates in sorted(groups.items())}
    _check_runs(study, budget_name, by_name, chosen)

    design: list[_Trial] = []
    tuning: dict[str, list[_Trial]] = defaultdict(list)
    replicate_hp: dict[str, set[tuple]] = defaultdict(set)
    for (phase, arm, slot), run in chosen.items():
        final = final_metric_names(run)
        metrics = {k: float(run.data.metrics[k]) for k in final}
        attrs = {"worker": REBUILT_WORKER, "mlflow_run_id": run.info.run_id,
                 **{f"metric.{k}": v for k, v in metrics.items()}}
        if phase == "replicate":
            value = metrics[final[0]] if final else 0.0  # the sweep's objective: the first final metric
            design.append(_Trial(run.info.run_id, _number(run), run.info.start_time, run.info.end_time, value,
                                 {"key": trial_key(arm, slot), "arm": arm, "replicate": slot,
                                  "stage": stage_of(study.budget(budget_name), slot), **attrs},
                                 system_attrs={"fixed_params": {}}))  # as enqueue_trial({}) records
            if arm in tuned_arms:
                replicate_hp[arm].add(tuple(sorted(_prefixed(run.data.params, "hp.").items())))
        else:
            params, distributions, hyperparams = _replay(study, arm, run)
            draw = int(run.data.tags[TAG + "replicate"]) - TUNING_REPLICATE_OFFSET  # the sweep's seeds: offset + draw
            tuning[arm].append(_Trial(run.info.run_id, slot, run.info.start_time, run.info.end_time,
                                      metrics.get(study.tuning.metric, 0.0),
                                      {**attrs, "hyperparams": hyperparams, "draw": draw}, params, distributions))
    truth = {arm: _tuned_truth(arm, _prefixed(parent_params, f"tuned.{arm}."), replicate_hp.get(arm))
             for arm in tuned_arms}
    for arm in tuned_arms:
        if truth[arm] is not None and arm not in tuning:
            raise RebuildRefused(f"arm {arm!r} has recorded tuned values but no FINISHED tuning run in the store: "
                                 "its search cannot be rebuilt")
    notes = []
    if other_arms:
        notes.append(f"left out the FINISHED runs of arms not in this budget's design: {', '.join(sorted(other_arms))}")
    if unfinished:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(unfinished.items()))
        notes.append(f"not rebuilt: {counts} run(s)" + (" (a RUNNING run is either still running, or was cut short "
                                                        "and its key runs again)" if unfinished.get("RUNNING") else ""))
    recorded = {t.user_attrs["arm"] for t in design} | set(tuning)
    return _Plan(design, dict(tuning), {a: t for a, t in truth.items() if t is not None}, recorded, notes)


def _choose(group: tuple[str, str, int], runs: list):
    """The one FINISHED run of a key (or tuning trial) that Optuna recorded:
    the latest, provided it started after every other had ended (see the
    module's docstring); runs that overlapped are ambiguous."""
    if len(runs) == 1:
        return runs[0]
    ordered = sorted(runs, key=lambda r: r.info.start_time or 0)
    last = ordered[-1]
    if any(r.info.end_time is None or r.info.end_time >= last.info.start_time for r in ordered[:-1]):
        phase, arm, slot = group
        what = f"key {trial_key(arm, slot)}" if phase == "replicate" else f"tuning trial {slot} of arm {arm!r}"
        raise RebuildRefused(
            f"{what} has {len(runs)} FINISHED runs that ran at the same time "
            f"({', '.join(r.info.run_id for r in ordered)}): "
            "which one Optuna recorded cannot be told. Delete the wrong one (e.g. in the MLflow UI, `make ui`) "
            "and rebuild again")
    return last


def _check_runs(study: Study, budget_name: str, arms: Mapping[str, Arm], chosen: Mapping) -> None:
    """Refuse unless every run came from the study's current source and logged
    the current settings, its arm's current config and the seeds the study
    gives it now; and holds the results the rebuilt trial records."""
    source = provenance.study_source_hash(study)
    settings = {f"settings.{k}": flat(v) for k, v in study.budget(budget_name).values.items()}
    problems: dict[str, list[str]] = defaultdict(list)  # what differs -> run ids, in the order checks are made
    for (phase, arm_name, slot), run in chosen.items():
        arm, params, tags, run_id = arms[arm_name], run.data.params, run.data.tags, run.info.run_id
        ran = tags.get(TAG + "study_source")
        if ran != source:
            problems[f"came from another version of the study's files (harness.study_source {ran or 'missing'}, "
                     f"now {source}): its code, claims, arms or settings changed since they ran, and a rebuild "
                     "would record today's design over them. Rebuild from a checkout of the commit the runs name "
                     "(their harness.git_commit tag), or start afresh with a new --storage and --tracking-uri"
                     ].append(run_id)
            continue
        then = _prefixed(params, "settings.", keep_prefix=True)
        if then != settings:
            moved = [f"{k[len('settings.'):]}: {then.get(k, 'absent')} in the runs, {settings.get(k, 'absent')} now"
                     for k in sorted(set(then) | set(settings)) if then.get(k) != settings.get(k)]
            problems[f"logged other settings than budget {budget_name!r} has now ({'; '.join(moved)}): rebuilding "
                     "would record the new settings over results trained with the old ones. Restore the settings "
                     "they ran with, or start afresh with a new --storage and --tracking-uri"].append(run_id)
            continue
        config = {f"config.{k}": flat(v) for k, v in arm.config.items()}
        if _prefixed(params, "config.", keep_prefix=True) != config:
            problems[f"of arm {arm_name!r} logged another config than the arm has now: restore it, or start "
                     "afresh with a new --storage and --tracking-uri"].append(run_id)
            continue
        replicate = int(tags[TAG + "replicate"])
        seeds = {k: str(v) for k, v in trial_seeds(study.root_seed, study.name, replicate, arm.seed_group)
                 .as_params().items()}
        if _prefixed(params, "seed.", keep_prefix=True) != seeds:
            problems[f"of arm {arm_name!r} logged other seeds than its root seed and seed group give now: restore "
                     "them, or start afresh with a new --storage and --tracking-uri"].append(run_id)
            continue
        if FINAL_METRICS not in tags:
            problems[f"were recorded before the harness tagged a trial's final metrics ({FINAL_METRICS}), so "
                     "their results cannot be told from their learning curves. For a damaged journal, "
                     "`harness repair-journal PATH` keeps every complete record"].append(run_id)
            continue
        lost = [k for k in final_metric_names(run) if k not in run.data.metrics]
        if lost:
            problems[f"lack final metric(s) they name ({', '.join(lost)}): the store lost part of them"].append(run_id)
    if problems:
        what, ids = next(iter(problems.items()))
        more = sum(len(v) for v in problems.values()) - len(ids)
        raise RebuildRefused(f"study {study.name!r} at budget {budget_name!r}: {len(ids)} run(s) ({', '.join(ids[:3])}"
                             f"{', …' if len(ids) > 3 else ''}) {what}"
                             + (f" ({more} more run(s) fail other checks)" if more else "") + "; nothing written")


# -- tuning ---------------------------------------------------------------------------------------------------------
class _Replay:
    """Stands in for an ``optuna.Trial`` while a study's search space is
    replayed against the ``hp.*`` params a tuning run logged: each suggestion
    returns the logged value and records its distribution."""

    def __init__(self, logged: Mapping[str, str], number: int | None):
        self.logged, self.number = logged, number
        self.params: dict[str, Any] = {}
        self.distributions: dict[str, Any] = {}
        self.user_attrs: dict[str, Any] = {}

    def _take(self, name: str, distribution, parse) -> Any:
        if name not in self.logged:
            raise LookupError(f"it suggests {name!r}, which the run did not log")
        value = parse(self.logged[name])
        if not distribution._contains(distribution.to_internal_repr(value)):
            raise ValueError(f"the logged {name}={self.logged[name]} lies outside its range now")
        self.params[name], self.distributions[name] = value, distribution
        return value

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False):
        return self._take(name, FloatDistribution(low, high, log=log, step=step), float)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False):
        return self._take(name, IntDistribution(low, high, log=log, step=step), int)

    def suggest_categorical(self, name: str, choices):
        def parse(text: str):
            found = [c for c in choices if flat(c) == text]
            if not found:
                raise ValueError(f"the logged {name}={text} is none of its choices now")
            return found[0]

        return self._take(name, CategoricalDistribution(choices), parse)

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value


def _replay(study: Study, arm: str, run) -> tuple[dict, dict, dict]:
    """A tuning run's Optuna params, distributions and ``hyperparams``, by
    replaying the study's search space against its logged ``hp.*`` params."""
    logged = _prefixed(run.data.params, "hp.")
    replay = _Replay(logged, _number(run))
    try:
        hyperparams = dict(study.tuning.space_for(arm)(replay))
        if {k: flat(v) for k, v in hyperparams.items()} != logged:
            raise ValueError("its result is not the hyperparameters the run logged")
    except Exception as exc:  # a space that needs more than suggest_*, or values it no longer allows
        raise RebuildRefused(f"tuning run {run.info.run_id} of arm {arm!r}: the study's search space cannot be "
                             f"replayed against the run's hp.* params ({type(exc).__name__}: {exc}); its tuning "
                             "trials cannot be rebuilt") from None
    return replay.params, replay.distributions, hyperparams


def _tuned_truth(arm: str, parent: dict[str, str], replicates: set[tuple] | None) -> dict[str, str] | None:
    """An arm's tuned values as the store recorded them (flattened): the
    study's parent run's ``tuned.<arm>.*`` params, which the sweep logs once
    the search is recorded, else the ``hp.*`` its replicates trained with; None
    when neither exists (the search had not finished: the next run finishes it)."""
    if replicates and len(replicates) > 1:
        raise RebuildRefused(f"the replicates of arm {arm!r} trained with {len(replicates)} different tuned values: "
                             "which the search recorded cannot be told")
    from_replicates = dict(next(iter(replicates))) if replicates else None
    if parent and from_replicates is not None and parent != from_replicates:
        raise RebuildRefused(f"arm {arm!r}: the tuned values on the study's parent run ({parent}) are not those its "
                             f"replicates trained with ({from_replicates})")
    return parent or from_replicates


def _tuned_record(arm: str, sequence: list, truth: dict[str, str] | None, direction: str) -> dict | None:
    """``TUNED_ATTR`` as the sweep records it ({"hyperparams", "trial"}): the
    best COMPLETE tuning trial, which must hold the values the store recorded."""
    if truth is None:
        return None
    complete = [(number, t) for number, t in enumerate(sequence) if isinstance(t, _Trial)]
    best = (min if direction == "minimize" else max)(t.value for _, t in complete)
    match = [(n, t) for n, t in complete if {k: flat(v) for k, v in t.user_attrs["hyperparams"].items()} == truth]
    if not match:
        raise RebuildRefused(f"arm {arm!r}: the tuning run that gave its tuned values ({truth}) is not among its "
                             "FINISHED tuning runs")
    best_match = [(n, t) for n, t in match if t.value == best]
    if not best_match:
        raise RebuildRefused(f"arm {arm!r}: its tuned values ({truth}) are not those of its best FINISHED tuning "
                             "run: the store's tuning runs are not the search that was recorded")
    number, trial = best_match[0]
    return {"hyperparams": trial.user_attrs["hyperparams"], "trial": number}


# -- writing --------------------------------------------------------------------------------------------------------
def _layout(trials: list[_Trial]) -> tuple[list, int]:
    """The order to add trials in: each at the number its run recorded, with
    the numbers between filled by FAIL placeholders (ints); a trial whose
    number is taken or unknown goes at the end. Returns (the sequence, how many
    went at the end)."""
    ordered = sorted(trials, key=lambda t: (t.number is None, t.number or 0, t.start))
    sequence: list = []
    later = []
    for trial in ordered:
        if trial.number is None or trial.number < len(sequence):
            later.append(trial)
            continue
        sequence.extend(range(len(sequence), trial.number))
        sequence.append(trial)
    return sequence + later, len(later)


def _add(ostudy: optuna.Study, sequence: list) -> None:
    for item in sequence:
        if isinstance(item, _Trial):
            ostudy.add_trial(item.frozen())
        else:
            ostudy.add_trial(optuna.trial.create_trial(state=TrialState.FAIL,
                                                       user_attrs={"fail_reason": GAP_REASON.format(number=item)}))


def _refuse_unless_empty(storage, names: list[str], url: str, study: str, budget: str) -> None:
    held = []
    for name in names:
        try:
            study_id = storage.get_study_id_from_name(name)
        except KeyError:
            continue
        count = storage.get_n_trials(study_id)
        if count:
            held.append(f"{name} ({count} trial(s))")
    if not held:
        return
    path = journal_path(url)
    fresh = (f"journal:{path.with_name(path.stem + '-rebuilt' + path.suffix)}" if path is not None
             else "journal:.harness/rebuilt.journal")
    raise RebuildRefused(
        f"Optuna storage {redact(url)} already holds trials of {', '.join(held)}: `harness run` resumes from it as "
        "it is, and rebuild writes only into empty studies. To rebuild anyway, use a fresh storage: `harness rebuild "
        f"{study} --budget {budget} --storage {fresh}` (rebuild every study and budget you need into it), then pass "
        "that --storage to `harness run` (or, with no worker running, move the file over the old journal)")


# -- small helpers ----------------------------------------------------------------------------------------------------
def _tuned_arms(study: Study, budget: str, arms: list[Arm]) -> list[str]:
    if study.tuning is None or study.budget(budget).tuning_trials == 0:
        return []
    return [a.name for a in arms if a.name in study.tuning.arms]


def _tuning_name(study: Study, budget: str, arm: str) -> str:
    return optuna_study_name(study.name, budget, f"tune.{arm}")


def _number(run) -> int | None:
    text = run.data.tags.get("optuna.trial_number", "")
    return int(text) if text.isdigit() else None


def _prefixed(params: Mapping[str, str], prefix: str, keep_prefix: bool = False) -> dict[str, str]:
    return {(k if keep_prefix else k[len(prefix):]): v for k, v in params.items() if k.startswith(prefix)}


def _time(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
