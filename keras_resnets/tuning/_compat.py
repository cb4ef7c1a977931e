"""The only place that touches Keras Tuner's private API, for the versions it was read from.

Four things Keras Tuner offers no public hook for:

* **State files written atomically.** ``Oracle.save`` and ``Oracle._save_trial``
  write ``oracle.json`` and ``trial_*/trial.json`` in place; a search killed while
  writing one (SIGKILL, a pre-empted machine) cannot be resumed. Here they are written
  to a temporary file and renamed, and a finished trial is never overwritten.
* **New configurations drawn among the untried ones.** ``Oracle._random_values``
  draws at random and gives up after 20 collisions with tried values, which can end a
  search (Hyperband's new brackets) while untried configurations remain.
* **Seed 0.** ``Oracle.__init__`` takes ``seed or random.randint(1, 10000)``: an
  explicit seed of 0 drew a random one. Here a given seed is kept, with the state
  upstream derives from it (``_seed_state``; Bayesian's ``_random_state`` and ``gpr``).
* **A search space taken as declared.** ``BaseTuner._populate_initial_space`` builds
  the hypermodel with default values to discover conditional hyperparameters: a full
  model, built and thrown away before the first trial, by every tuner of a search.

Every other behaviour of the budgeted tuner uses public methods (``populate_space``,
``create_trial``, ``run_trial``, the ``on_*`` hooks).

Example::

    class Oracle(OracleInternals, keras_tuner.oracles.HyperbandOracle):
        def draw_untried(self): ...
"""

from __future__ import annotations

import os
import re

import keras_tuner
import numpy as np

from keras_resnets import _io

SUPPORTED = ((1, 4, 7), (1, 5, 0))  # [lowest, first unsupported)
SUPPORTED_TEXT = "keras-tuner>=1.4.7,<1.5"


def check_version(version: str) -> None:
    """Refuse a Keras Tuner whose private methods were not read for this module.

    Example: ``check_version("1.4.8")`` passes; ``check_version("1.5.0")`` raises.
    """
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    found = tuple(int(v) for v in match.groups()) if match else None
    if found is None or not SUPPORTED[0] <= found < SUPPORTED[1]:
        raise ImportError(f"keras_resnets.tuning needs {SUPPORTED_TEXT} (it overrides "
                          f"Oracle._save_trial, Oracle._random_values and "
                          f"BaseTuner._populate_initial_space, private methods of those "
                          f"versions); found keras-tuner {version}. Install a "
                          f"supported one: pip install '{SUPPORTED_TEXT}'")


check_version(keras_tuner.__version__)


class OracleInternals:
    """Atomic state files and untried draws for an oracle that defines ``draw_untried()``
    (the values of one new configuration, or None when all were tried), seeded by any
    ``seed`` given, 0 included."""

    def __init__(self, *, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if seed is not None:
            self.seed = self._seed_state = seed
            if isinstance(self, keras_tuner.oracles.BayesianOptimizationOracle):
                self._random_state = np.random.RandomState(seed)
                self.gpr.set_params(random_state=seed)

    def save(self):
        _io.write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        stored = _io.read_json(path)
        if stored and stored.get("status") == "COMPLETED" and trial.status != "COMPLETED":
            raise _io.StateFileError(f"{path} holds a finished trial that a {trial.status} "
                                     f"trial would overwrite; the search state is "
                                     f"inconsistent: pass overwrite=True (--overwrite) to "
                                     f"start the search over")
        _io.write_json(path, trial.get_state())

    def _random_values(self):
        return self.draw_untried()


class DeclaredSpace:
    """For a tuner whose hypermodel declares its whole space in ``declare_hyperparameters``
    (no conditional scopes): the space is read from there, and no model is built for it.

    Example: ``class Tuner(DeclaredSpace, keras_tuner.Tuner): ...``
    """

    def _populate_initial_space(self):
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)
