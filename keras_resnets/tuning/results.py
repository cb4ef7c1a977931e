"""A search's results: one row per trial, the CSV table, the Pareto front, the figure and
the best model.

Example::

    rows = trial_results("runs/tune")            # a search directory or a tuner
    results_table("runs/tune")                   # results.csv and results.png
    pareto_front(rows)                           # fewer parameters and higher accuracy
    save_best_model(tuner)                       # best_model.keras and best.json
"""

from __future__ import annotations

import csv
import io
import math
import os

import keras_tuner
from keras_tuner.engine.trial import Trial, TrialStatus

from keras_resnets import _io, registry, training
from keras_resnets.normalization import with_input_normalization
from keras_resnets.tuning.hypermodel import CONFIG_HP
from keras_resnets.tuning.space import budget_band, format_count
from keras_resnets.tuning.tuner import DEFINITION_FILE, read_definition

RESULTS_FILE = "results.csv"
BEST_MODEL_FILE = "best_model.keras"
RESULT_COLUMNS = ("trial", "status", "config", "depth", "width", "cardinality", "params",
                  "macs", "epochs", "val_accuracy", "val_xent", "wall_time_s")


def _project_dir(source) -> str:
    if isinstance(source, keras_tuner.Tuner):
        return source.project_dir
    return os.path.abspath(os.fspath(source))


def _definition(source) -> dict:
    """The search definition: the tuner's own, or the one stored in the directory."""
    definition = getattr(source, "definition", None)
    if isinstance(definition, dict):
        return definition
    definition = read_definition(_project_dir(source))
    if definition is None:
        raise ValueError(f"{_project_dir(source)!r} holds no budgeted search "
                         f"({DEFINITION_FILE} missing)")
    return definition


def _load_trials(source) -> list:
    oracle = getattr(source, "oracle", None)
    if isinstance(oracle, keras_tuner.Oracle):
        return list(oracle.trials.values())
    directory = _project_dir(source)
    paths = [os.path.join(directory, name, "trial.json") for name in sorted(os.listdir(directory))
             if name.startswith("trial_")]
    return [Trial.load(path) for path in paths if os.path.exists(path)]


def trial_results(source) -> list[dict]:
    """One dict per trial of a search (a :class:`BudgetedTuner` or its directory):
    ``RESULT_COLUMNS``, in trial order. Metrics are those of the trial's best epoch.

    Example: ``[r["config"] for r in trial_results("runs/tune")]``.
    """
    definition = _definition(source)
    configs = {c["key"]: c for c in definition["configs"]}
    rows = []
    for trial in sorted(_load_trials(source), key=lambda t: t.trial_id):
        key = trial.hyperparameters.values.get(CONFIG_HP)
        config = configs.get(key, {})

        def metric(name, trial=trial):
            if trial.metrics.exists(name):
                value = trial.metrics.get_last_value(name)
                return None if value is None else float(value)
            return None

        epochs = metric("epochs") or trial.hyperparameters.values.get("tuner/epochs") \
            or definition.get("epochs")
        rows.append({
            "trial": trial.trial_id, "status": trial.status, "config": key,
            "depth": config.get("depth"), "width": config.get("width"),
            "cardinality": config.get("cardinality"), "params": config.get("params"),
            "macs": config.get("macs"), "epochs": None if epochs is None else int(epochs),
            "val_accuracy": metric("val_accuracy"),
            "val_xent": metric("val_xent"),  # the cross-entropy; val_loss adds the L2 penalty
            "wall_time_s": metric("wall_time"),
        })
    return rows


def _columns(family) -> list[str]:
    return [c for c in RESULT_COLUMNS if c != "cardinality" or family == "resnext"]


def _csv_text(rows, family) -> str:
    columns = _columns(family)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = []
        for column in columns:
            value = row[column]
            if isinstance(value, float) and column != "width":
                value = f"{value:.6g}" if column != "wall_time_s" else f"{value:.2f}"
            values.append("" if value is None else value)
        writer.writerow(values)
    return out.getvalue()


def pareto_front(rows) -> list[dict]:
    """The completed trials that no other trial beats on both fewer parameters and higher
    validation accuracy, by increasing parameters.

    Example: ``[r["config"] for r in pareto_front(trial_results("runs/tune"))]``.
    """
    done = [r for r in rows if r["status"] == TrialStatus.COMPLETED
            and r["val_accuracy"] is not None and r["params"] is not None]
    front, best = [], -math.inf
    for row in sorted(done, key=lambda r: (r["params"], -r["val_accuracy"])):
        if row["val_accuracy"] > best:
            front.append(row)
            best = row["val_accuracy"]
    return front


def plot_results(rows, path, *, title=None, width_name="width", band=None):
    """Save the figure: validation accuracy against depth (colour: width) and against
    parameters with the Pareto front (and the budget band ``(low, budget)`` if given).

    Example: ``plot_results(rows, "results.png", band=(1_350_000, 1_500_000))``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    done = [r for r in rows if r["status"] == TrialStatus.COMPLETED
            and r["val_accuracy"] is not None]
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    left, right = figure.subplots(1, 2)
    if band:
        right.axvspan(band[0], band[1], color="0.92", zorder=0, label="budget band")
    if done:
        widths = [float(r["width"]) for r in done]
        # one colour scale for both panels; a bar only when the widths differ
        style = dict(c=widths, cmap="viridis", vmin=min(widths), vmax=max(widths), s=60,
                     edgecolors="black", zorder=2)
        points = left.scatter([r["depth"] for r in done], [r["val_accuracy"] for r in done],
                              **style)
        if len(set(widths)) > 1:
            figure.colorbar(points, ax=left, label=width_name)
        else:
            left.set_title(f"{width_name} = {registry.format_number(widths[0])}", loc="right",
                           fontsize=9)
        right.scatter([r["params"] for r in done], [r["val_accuracy"] for r in done], **style)
        front = pareto_front(done)
        xs, ys = [r["params"] for r in front], [r["val_accuracy"] for r in front]
        right.step(xs, ys, where="post", color="crimson", zorder=1)
        right.scatter(xs, ys, s=160, facecolors="none", edgecolors="crimson", linewidths=1.5,
                      zorder=3, label="Pareto front")
        for r in front:
            right.annotate(r["config"], (r["params"], r["val_accuracy"]), fontsize=7,
                           xytext=(4, 4), textcoords="offset points")
        right.legend(loc="best", fontsize=8)
    else:
        left.text(0.5, 0.5, "no completed trial", ha="center", transform=left.transAxes)
    left.set(xlabel="depth", ylabel="validation accuracy", title="accuracy against depth")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set(xlabel="trainable parameters", ylabel="validation accuracy",
              title="accuracy against parameters")
    if title:
        figure.suptitle(title)
    _io.atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=110))
    return path


def results_table(source, path=None, *, figure=True) -> str:
    """The search's results as CSV text (columns ``RESULT_COLUMNS``; ``cardinality``
    for ResNeXt only), written to ``path`` (default ``<search dir>/results.csv``) with
    the figure beside it (same name, ``.png``): accuracy against depth and the Pareto
    front of accuracy against parameters, over the budget band.

    ``source`` is a :class:`BudgetedTuner` (its search space gives the band) or a search
    directory (its ``search.json`` does).

    Example: ``print(results_table("runs/tune", figure=False))``.
    """
    definition = _definition(source)
    rows = trial_results(source)
    family = definition["family"]
    text = _csv_text(rows, family)
    path = path or os.path.join(_project_dir(source), RESULTS_FILE)
    _io.write_text(path, text)
    if figure:
        space = getattr(getattr(source, "hypermodel", None), "space", None)
        band = (space.low, space.budget) if space is not None \
            else budget_band(definition["budget"], definition["tolerance"])
        title = f"{family} at {format_count(band[1])} parameters ({definition['mode']} mode)"
        plot_results(rows, os.path.splitext(path)[0] + ".png", title=title,
                     width_name=registry.tuning_families()[family].width_name, band=band)
    return text


def format_results(rows, family=None) -> str:
    """The results as an aligned text table (what ``keras-resnets tune`` prints).

    Example: ``print(format_results(trial_results("runs/tune"), "wrn"))``.
    """
    columns = _columns(family)

    def cell(column, value):
        if value is None:
            return "-"
        if column in ("params", "macs"):
            return f"{int(value):,}"
        if column in ("val_accuracy", "val_xent"):
            return f"{value:.4f}"
        if column == "wall_time_s":
            return f"{value:.1f}"
        if column == "width":
            return registry.format_number(value)
        return str(value)

    table = [list(columns)] + [[cell(c, r[c]) for c in columns] for r in rows]
    sizes = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join("  ".join(v.rjust(s) if i > 2 else v.ljust(s)
                               for i, (v, s) in enumerate(zip(line, sizes, strict=True))).rstrip()
                     for line in table)


def save_best_model(tuner, path=None, *, test_data=None):
    """Save the best trial's model (best epoch's weights) as ``.keras``, with
    ``best.json`` beside it; returns the path, or None before any trial completed.

    The model carries the hypermodel's input normalization when it has one (it then
    takes raw pixels). ``test_data`` (a pipeline of normalized held-out images) is
    evaluated once and its accuracy recorded in ``best.json`` as ``test_accuracy``.

    Example: ``keras.saving.load_model(save_best_model(tuner))``.
    """
    best = [t for t in tuner.oracle.get_best_trials(1) if t.status == TrialStatus.COMPLETED]
    if not best:
        return None
    trial = best[0]
    path = path or os.path.join(tuner.project_dir, BEST_MODEL_FILE)
    model = tuner.load_model(trial)
    scores = {}
    if test_data is not None:
        one_hot = len(test_data.element_spec[1].shape) == 2
        training.compile_model(model, "sgd", one_hot=one_hot)
        scores = model.evaluate(test_data, return_dict=True, verbose=0)
    normalization = getattr(tuner.hypermodel, "normalization", None)
    if normalization is not None:
        model = with_input_normalization(model, *normalization)
    _io.atomic_write(path, model.save)
    key = trial.hyperparameters.values.get(CONFIG_HP)
    info = {"trial": trial.trial_id, "config": key, "score": trial.score,
            "objective": tuner.oracle.objective.name, "model": os.path.basename(path),
            "input_normalization": normalization,
            "test_accuracy": float(scores["accuracy"]) if scores else None,
            "test_loss": float(scores["xent"]) if scores else None}
    config = tuner.hypermodel.by_key.get(key)
    if config is not None:
        info.update(config.as_dict())
    _io.write_json(os.path.join(os.path.dirname(path), "best.json"), info)
    return path
