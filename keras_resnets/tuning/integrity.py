"""Checks a search directory before Keras Tuner reloads it.

Keras Tuner trusts its state files: a deleted ``trial_*`` directory makes it reuse a
finished trial's id (overwriting its ``trial.json``) and then fail with ``KeyError``; a
trial with an unknown configuration or a string score fails only after a new trial has
trained. :func:`check_search_state` reads every state file first and refuses, naming the
file and the way out, anything Keras Tuner would misread.

Example::

    check_search_state("runs/tune", ["wrn-10-1", "wrn-16-1"])
"""

from __future__ import annotations

import os

from keras_tuner.engine.trial import TrialStatus

from keras_resnets._io import StateFileError, read_json
from keras_resnets.tuning.hypermodel import CONFIG_HP

REMEDY = "restore it from a copy, or pass overwrite=True (--overwrite) to start the search over"
ORACLE_KEYS = ("ongoing_trials", "hyperparameters", "start_order", "end_order", "run_times",
               "retry_queue", "seed", "seed_state", "tried_so_far", "id_to_hash", "display")
# The state files of the tuner of a lone search and of a chief: Keras Tuner reloads the
# search (and oracle.json) when one exists.
TUNER_FILES = ("tuner0.json", "chief.json")
STATUSES = {value for name, value in vars(TrialStatus).items() if name.isupper()}


def _refuse(path, problem):
    raise StateFileError(f"{path} {problem}; {REMEDY}")


def _check_trial(path, trial_id, state, config_keys):
    if not isinstance(state, dict):
        _refuse(path, "is not a trial (a JSON object)")
    if state.get("trial_id") != trial_id:
        _refuse(path, f"holds trial {state.get('trial_id')!r}, not {trial_id!r} as its "
                      f"directory says")
    if state.get("status") not in STATUSES:
        _refuse(path, f"has status {state.get('status')!r}, not one of {sorted(STATUSES)}")
    values = (state.get("hyperparameters") or {}).get("values")
    if not isinstance(values, dict) or values.get(CONFIG_HP) not in config_keys:
        shown = values.get(CONFIG_HP) if isinstance(values, dict) else values
        _refuse(path, f"holds configuration {shown!r}, not one of this search's "
                      f"{len(config_keys)} ({', '.join(list(config_keys)[:4])}, ...)")
    score = state.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        _refuse(path, f"has score {score!r}, not a number or null")
    if not isinstance(state.get("metrics"), dict):
        _refuse(path, "has no metrics object")
    return values


def _trials(project_dir, config_keys):
    """Trial id -> (trial.json path, hyperparameter values), every file checked."""
    trials = {}
    for name in sorted(os.listdir(project_dir)):
        path = os.path.join(project_dir, name, "trial.json")
        if name.startswith("trial_") and os.path.isfile(path):
            state = read_json(path, remedy=REMEDY)
            trials[name[len("trial_"):]] = (path, _check_trial(path, name[len("trial_"):],
                                                               state, config_keys))
    return trials


def _check_duplicates(trials):
    """A configuration is trained once, except in Hyperband's later rounds, which continue
    an earlier trial of the same configuration (``tuner/trial_id``)."""
    first = {}
    for _, (path, values) in sorted(trials.items()):
        earlier = values.get("tuner/trial_id")
        if earlier is not None:
            if earlier not in trials or trials[earlier][1].get(CONFIG_HP) != values[CONFIG_HP]:
                _refuse(path, f"continues trial {earlier!r}, which is missing or holds "
                              f"another configuration")
            continue
        key = values[CONFIG_HP]
        if key in first:
            _refuse(path, f"repeats configuration {key!r} of {first[key]}")
        first[key] = path


def _check_oracle(project_dir, trials):
    path = os.path.join(project_dir, "oracle.json")
    state = read_json(path, remedy=REMEDY)
    if state is None:
        tuners = [n for n in TUNER_FILES if os.path.exists(os.path.join(project_dir, n))]
        if trials or tuners:
            held = [f"trial_{t}" for t in sorted(trials)] + tuners
            _refuse(path, f"is missing, but the search directory holds {', '.join(held)}")
        return
    missing = [k for k in ORACLE_KEYS if k not in state] if isinstance(state, dict) \
        else list(ORACLE_KEYS)
    if missing:
        _refuse(path, f"lacks {', '.join(missing)}")
    listed = [*state["start_order"], *state["end_order"], *state["retry_queue"],
              *state["ongoing_trials"].values(), *state["id_to_hash"]]
    for trial_id in dict.fromkeys(listed):
        if trial_id not in trials:
            _refuse(os.path.join(project_dir, f"trial_{trial_id}", "trial.json"),
                    "is missing, but oracle.json lists the trial")


def check_search_state(project_dir, config_keys) -> None:
    """Refuse a search directory with a missing, unreadable or inconsistent state file
    (``oracle.json``, ``trial_*/trial.json``, the tuners' ``*.json``): a
    :class:`StateFileError` names the file and what to do.

    Example: ``check_search_state("runs/tune", [c.key for c in hypermodel.configs])``.
    """
    if not os.path.isdir(project_dir):
        return
    for name in sorted(os.listdir(project_dir)):
        if name.endswith(".json") and name != "oracle.json":
            read_json(os.path.join(project_dir, name), remedy=REMEDY)
    trials = _trials(project_dir, sorted(config_keys))
    _check_duplicates(trials)
    _check_oracle(project_dir, trials)
