"""The budgeted tuner: four oracles over the single ``Choice``, a resumable
``keras_tuner.Tuner``, and Keras Tuner's chief/worker distribution.

Built on Keras Tuner's public API (``populate_space``, ``create_trial``,
``run_trial``, the ``on_*`` hooks, the ``KERASTUNER_*`` variables); the two private
methods it needs are in :mod:`keras_resnets.tuning._compat`.

Example::

    hypermodel = BudgetedHyperModel("wrn", "1.5M", mode="iso")
    tuner = make_tuner(hypermodel, "hyperband", directory="runs/tune-iso", epochs=9)
    tuner.search(train_ds, validation_data=val_ds, epochs=9)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import socket
import time

import keras
import keras_tuner
import numpy as np
from keras_tuner.engine.trial import TrialStatus

from keras_resnets import _io
from keras_resnets._checks import check_choice, check_int
from keras_resnets.tuning import _compat
from keras_resnets.tuning.hypermodel import CONFIG_HP, BudgetedHyperModel
from keras_resnets.tuning.integrity import check_search_state
from keras_resnets.tuning.latency import save_measurements
from keras_resnets.tuning.space import format_count

ORACLES = ("random", "grid", "bayesian", "hyperband")
OBJECTIVES = ("val_accuracy", "val_loss")  # val_loss: the cross-entropy plus the L2 penalty
DEFINITION_FILE = "search.json"
IDLE_POLL_S = 0.2  # a worker told to wait asks the oracle again after this long


# --- oracles ----------------------------------------------------------------------------


class _BudgetedOracle(_compat.OracleInternals):
    """What the four oracles share: draws among the untried configurations, and no
    "stop" while other workers' trials run (one may fail and be retried; and the chief
    leaves as soon as the last worker is told to stop)."""

    def config_choice(self):
        """The space's single ``Choice`` (declared by the hypermodel)."""
        return next(hp for hp in self.hyperparameters.space if hp.name == CONFIG_HP)

    def untried(self) -> list:
        tried = {t.hyperparameters.values.get(CONFIG_HP) for t in self.trials.values()}
        return [v for v in self.config_choice().values if v not in tried]

    def draw_untried(self) -> dict | None:
        untried = self.untried()
        if not untried:
            return None
        rng = random.Random(f"{self.seed}/{len(self.trials)}")  # the same after a resume
        return {CONFIG_HP: rng.choice(untried)}

    def exhausted(self) -> dict:
        status = TrialStatus.IDLE if self.ongoing_trials else TrialStatus.STOPPED
        return {"status": status, "values": None}

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.STOPPED and self.ongoing_trials:
            self.tuner_ids.add(tuner_id)  # still a tuner of this search: it will ask again
            trial.status = TrialStatus.IDLE
        return trial


class _RandomOracle(_BudgetedOracle, keras_tuner.oracles.RandomSearchOracle):
    """Uniform among the configurations not tried yet; stops when all were tried."""

    def populate_space(self, trial_id):
        values = self.draw_untried()
        return self.exhausted() if values is None else {"status": TrialStatus.RUNNING,
                                                         "values": values}


class _GridOracle(_BudgetedOracle, keras_tuner.oracles.GridSearchOracle):
    """The configurations in order, each once. Upstream keeps its place in the grid in
    memory only, so a resumed grid search fails with a KeyError
    (keras-team/keras-tuner#1055); here the place is the set of tried configurations."""

    def populate_space(self, trial_id):
        untried = self.untried()
        if not untried:
            return self.exhausted()
        return {"status": TrialStatus.RUNNING, "values": {CONFIG_HP: untried[0]}}


class _BayesianOracle(_BudgetedOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    """Upper confidence bound over the untried configurations themselves: upstream
    optimises over a continuous embedding and may propose one already tried."""

    def populate_space(self, trial_id):
        untried = self.untried()
        if not untried:
            return self.exhausted()
        completed = [t for t in self.trials.values() if t.status == TrialStatus.COMPLETED]
        if len(completed) < (self.num_initial_points or 3):
            return {"status": TrialStatus.RUNNING, "values": self.draw_untried()}
        choice = self.config_choice()
        sign = -1.0 if self.objective.direction == "max" else 1.0  # the GP minimises
        x = [[choice.value_to_prob(t.hyperparameters.values[CONFIG_HP])] for t in completed]
        y = [sign * t.score for t in completed]
        self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
        mu, sigma = self.gpr.predict([[choice.value_to_prob(v)] for v in untried],
                                     return_std=True)
        best = untried[int(np.argmin(np.ravel(mu) - self.beta * np.ravel(sigma)))]
        return {"status": TrialStatus.RUNNING, "values": {CONFIG_HP: best}}


class _HyperbandOracle(_BudgetedOracle, keras_tuner.oracles.HyperbandOracle):
    """Keras Tuner's Hyperband; its new brackets draw among the untried configurations."""


# --- the tuner ------------------------------------------------------------------------------


def distributed_role() -> str | None:
    """``"chief"``, ``"worker"`` or None, from Keras Tuner's ``KERASTUNER_*`` variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def _check_listen_address():
    """A clear error before the chief serves on an address it cannot listen on."""
    ip, port = os.environ["KERASTUNER_ORACLE_IP"], os.environ["KERASTUNER_ORACLE_PORT"]
    try:
        family, kind, _, _, address = socket.getaddrinfo(ip, int(port), type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        raise ValueError(f"the chief cannot listen on {ip}:{port} ({error.strerror or error}: "
                         f"port in use or address not of this machine); pick another "
                         f"--oracle-port") from None


def _best_epoch_metrics(histories, objective) -> dict:
    """Each execution's metrics at its best epoch for ``objective``, averaged."""
    best = []
    for history in histories:
        logs = history.history
        if objective.name not in logs:
            raise keras_tuner.errors.FatalValueError(
                f"objective {objective.name!r} is not among the trial's metrics "
                f"{sorted(logs)}; pass validation_data to search() or choose another objective")
        scores = logs[objective.name]
        pick = max if objective.direction == "max" else min
        epoch = scores.index(pick(scores))
        best.append({name: float(values[epoch]) for name, values in logs.items()})
    return {name: float(np.mean([m[name] for m in best])) for name in best[0]}


class BudgetedTuner(_compat.DeclaredSpace, keras_tuner.Tuner):
    """A ``keras_tuner.Tuner`` for a :class:`BudgetedHyperModel`; made by :func:`make_tuner`.

    Beyond the Keras Tuner defaults it stores the search definition in the project
    directory and refuses to resume a different search; restarts a search killed at any
    moment where it stopped (the killed trial run again, completed ones kept); records
    each trial's wall time, parameters and MACs in its metrics; runs Hyperband's
    successive rounds; seeds each trial from ``seed`` and the trial's id, so that a
    resumed search trains every trial as an uninterrupted one does; and, as the chief of a
    distributed search, reports an address it cannot serve on.

    Example: ``make_tuner(hypermodel, "grid", directory="runs/grid").search(train_ds,
    validation_data=val_ds, epochs=5)``.
    """

    def __init__(self, hypermodel, oracle, *, directory, project_name, overwrite=False,
                 definition=None, verbose=1, seed=None, **kwargs):
        if not isinstance(hypermodel, BudgetedHyperModel):
            raise ValueError(f"hypermodel must be a BudgetedHyperModel; got {hypermodel!r}")
        self.verbose, self.seed = verbose, seed
        self.waiting = False
        self.trial_records = {}
        project_dir = os.path.join(str(directory), project_name)
        worker = distributed_role() == "worker"
        if overwrite and not worker and os.path.exists(project_dir):
            _io.remove_contents(project_dir)
        self.definition = dict(definition or hypermodel.definition())
        _check_definition(project_dir, self.definition)
        if not worker:  # the chief or a lone tuner owns the state files
            check_search_state(project_dir, [c.key for c in hypermodel.configs])
            if hypermodel.measurements is not None:
                save_measurements(project_dir, hypermodel.measurements, hypermodel.latency)
        tuner_file = os.path.join(project_dir,
                                  f"{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.json")
        if not worker and os.path.exists(os.path.join(project_dir, "oracle.json")) \
                and not os.path.exists(tuner_file):
            _io.write_json(tuner_file, {})  # killed in the first trial: resume all the same
        super().__init__(oracle=oracle, hypermodel=hypermodel, directory=directory,
                         project_name=project_name, overwrite=False, **kwargs)

    def search(self, *fit_args, **fit_kwargs):
        """Run trials until the oracle stops (``keras_tuner.Tuner.search``); the chief of
        a distributed search serves the oracle instead until every worker is done."""
        if distributed_role() == "chief":
            _check_listen_address()
            print(f"[tune] chief: oracle serving on {os.environ['KERASTUNER_ORACLE_IP']}:"
                  f"{os.environ['KERASTUNER_ORACLE_PORT']}", flush=True)
        super().search(*fit_args, **fit_kwargs)

    def pre_create_trial(self):
        if self.waiting:  # the oracle said IDLE: other workers' trials are running
            time.sleep(IDLE_POLL_S)
        self.waiting = True

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self.waiting = False

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        config = self.hypermodel.config_for(hp.copy())
        start = time.perf_counter()
        if self.seed is not None:  # the weights, dropout...: the same whatever ran before
            keras.utils.set_random_seed(trial_seed(self.seed, trial.trial_id))
        if "tuner/epochs" in hp.values:  # Hyperband's rounds, as keras_tuner.Hyperband
            kwargs["epochs"] = hp.values["tuner/epochs"]
            kwargs["initial_epoch"] = hp.values["tuner/initial_epoch"]
        if "tuner/trial_id" in hp.values:  # continue the earlier round's best weights
            earlier = self.oracle.get_trial(hp.values["tuner/trial_id"])
            kwargs["initial_weights"] = self.load_model(earlier).get_weights()
        metrics = _best_epoch_metrics(super().run_trial(trial, *args, **kwargs),
                                      self.oracle.objective)
        metrics.update(wall_time=time.perf_counter() - start, params=float(config.params),
                       macs=float(config.macs), epochs=float(kwargs.get("epochs") or 0))
        self.trial_records[trial.trial_id] = (config, metrics)
        return metrics

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        config, metrics = self.trial_records.pop(trial.trial_id, (None, {}))
        if not self.verbose:
            return
        if config is None:
            print(f"[tune] trial {trial.trial_id}: {trial.status}", flush=True)
            return
        number = int(trial.trial_id) + 1 if trial.trial_id.isdigit() else trial.trial_id
        total = self.oracle.max_trials
        shown = "  ".join(f"{name} {metrics[name]:.4f}" for name in ("val_accuracy", "val_xent")
                          if name in metrics)  # val_xent: val_loss without the L2 penalty
        print(f"[tune] trial {number}{f'/{total}' if total else ''} {config.key}: params "
              f"{config.params:,}  MACs {format_count(config.macs)}  {shown}  "
              f"{metrics['wall_time']:.1f} s  ({trial.status})", flush=True)


def trial_seed(seed, trial_id) -> int:
    """The seed of trial ``trial_id`` of a search seeded with ``seed``.

    Example: ``trial_seed(1, "0")`` is the same in every process, resumed or not.
    """
    digest = hashlib.sha256(f"{seed}/{trial_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


# --- the search directory -------------------------------------------------------------------


def read_definition(project_dir) -> dict | None:
    """The search definition stored in ``project_dir`` (None if there is none)."""
    return _io.read_json(os.path.join(project_dir, DEFINITION_FILE),
                         remedy="delete the search directory, or pass overwrite=True")


def _describe(value):
    if isinstance(value, list) and len(value) > 6:
        return f"[{len(value)} entries]"
    return repr(value)


def _check_definition(project_dir, definition):
    """Refuse a directory that holds another search; record this one's definition."""
    stored = read_definition(project_dir)
    if stored is None:
        if os.path.exists(os.path.join(project_dir, "oracle.json")):
            raise ValueError(f"directory {project_dir!r} holds a Keras Tuner project that is "
                             f"not a budgeted search; use another directory")
        _io.write_json(os.path.join(project_dir, DEFINITION_FILE), definition)
        return
    differing = [k for k in sorted(set(stored) | set(definition))
                 if stored.get(k) != definition.get(k)]
    if differing:
        details = "; ".join(f"{k}: stored {_describe(stored.get(k))}, asked "
                            f"{_describe(definition.get(k))}" for k in differing)
        raise ValueError(f"directory {project_dir!r} holds another search ({details}). "
                         f"Resume it with the same settings, use another directory, or pass "
                         f"overwrite=True (--overwrite) to discard it")


# --- making one -----------------------------------------------------------------------------


def _make_oracle(oracle, *, objective, max_trials, seed, epochs, factor, num_initial_points,
                 hyperband_iterations):
    if oracle == "random":
        return _RandomOracle(objective=objective, max_trials=max_trials, seed=seed)
    if oracle == "grid":
        return _GridOracle(objective=objective, max_trials=max_trials, seed=seed)
    if oracle == "bayesian":
        return _BayesianOracle(objective=objective, max_trials=max_trials, seed=seed,
                               num_initial_points=num_initial_points)
    return _HyperbandOracle(objective=objective, max_epochs=epochs, factor=factor, seed=seed,
                            hyperband_iterations=hyperband_iterations)


def check_oracle(oracle) -> str:
    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {', '.join(ORACLES)}; got {oracle!r}")
    return oracle


def check_objective(objective) -> str:
    return check_choice("objective", objective, OBJECTIVES)


def make_tuner(hypermodel, oracle="random", *, directory, max_trials=10, epochs=None,
               objective="val_accuracy", seed=None, overwrite=False, factor=3,
               hyperband_iterations=1, num_initial_points=None, executions_per_trial=1,
               extra_definition=None, verbose=1) -> BudgetedTuner:
    """A :class:`BudgetedTuner` with one of the four Keras Tuner oracles.

    Example: ``make_tuner(hypermodel, "hyperband", directory="runs/hb", epochs=9)``.

    Args:
        hypermodel: a :class:`BudgetedHyperModel`.
        oracle: ``"random"``, ``"grid"``, ``"bayesian"`` or ``"hyperband"``.
        directory: the search directory (trials, state, results); a directory that
            holds another search is refused.
        max_trials: trials at most (Hyperband: ignored, its brackets set the count).
        epochs: Hyperband's ``max_epochs`` (required for it).
        objective: what to maximise or minimise, e.g. ``"val_accuracy"``, ``"val_loss"``.
        seed: the oracle's seed, and with each trial's id the seed set as the trial starts
            (:func:`trial_seed`; default: none, unseeded trials).
        factor, hyperband_iterations: Hyperband's reduction factor and iterations.
        num_initial_points: random trials before Bayesian optimisation models the
            results (default 3).
        extra_definition: more settings that identify the search (dataset, epochs...).
    """
    check_oracle(oracle)
    max_trials = check_int("max_trials", max_trials, 1, "3, 20")
    if oracle == "hyperband":
        epochs = check_int("epochs", epochs, 1, "9, 27 (Hyperband's max_epochs)")
        factor = check_int("factor", factor, 2, "3")
    num_initial_points = check_int("num_initial_points", num_initial_points, 1, "1, 3",
                                   allow_none=True)
    check_objective(objective)
    definition = hypermodel.definition()
    definition.update(oracle=oracle, objective=objective)
    definition.update(extra_definition or {})
    path = os.path.abspath(os.fspath(directory))
    tuner_oracle = _make_oracle(oracle, objective=objective, max_trials=max_trials, seed=seed,
                                epochs=epochs, factor=factor,
                                num_initial_points=num_initial_points,
                                hyperband_iterations=hyperband_iterations)
    return BudgetedTuner(hypermodel, tuner_oracle, directory=os.path.dirname(path),
                         project_name=os.path.basename(path), overwrite=overwrite,
                         definition=definition, verbose=verbose, seed=seed,
                         executions_per_trial=executions_per_trial)


# --- distribution ---------------------------------------------------------------------------


@contextlib.contextmanager
def environment(values):
    """Set environment variables for the duration of the block (None: leave alone)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def distribution_env(role, tuner_id, oracle_ip, oracle_port) -> dict:
    """Keras Tuner's ``KERASTUNER_*`` variables of a chief or worker (empty for neither).

    Example: ``distribution_env("chief", None, "127.0.0.1", 8000)``.
    """
    if role is None:
        if tuner_id or oracle_ip or oracle_port:
            raise ValueError("tuner_id, oracle_ip and oracle_port need role='chief' or "
                             "'worker' (--chief / --worker)")
        return {}
    if role not in ("chief", "worker"):
        raise ValueError(f"role must be None, 'chief' or 'worker'; got {role!r}")
    ip = oracle_ip or os.environ.get("KERASTUNER_ORACLE_IP")
    port = oracle_port or os.environ.get("KERASTUNER_ORACLE_PORT")
    if not ip or not port:
        raise ValueError(f"a {role} needs the chief's address: oracle_ip and oracle_port "
                         f"(--oracle-ip, --oracle-port, or KERASTUNER_ORACLE_IP/PORT)")
    number = int(port) if str(port).isdigit() else -1
    if not 0 < number < 65536:
        raise ValueError(f"oracle_port must be a TCP port in 1-65535; got {port!r}")
    if role == "chief":
        tuner_id = "chief"
    else:
        tuner_id = tuner_id or os.environ.get("KERASTUNER_TUNER_ID") \
            or f"worker-{socket.gethostname()}-{os.getpid()}"
        if "chief" in tuner_id:
            raise ValueError(f"a worker's tuner_id must not contain 'chief' (Keras Tuner "
                             f"takes it for the chief); got {tuner_id!r}")
    return {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": ip,
            "KERASTUNER_ORACLE_PORT": number}
