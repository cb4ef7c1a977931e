"""A search's results: one row per trial, the CSV table, the Pareto front, the figure and
the best model.

Example::

    rows = trial_results("runs/tune")            # a search directory or a tuner
    results_table("runs/tune")                   # results.csv and results.png
    pareto_front(rows)                           # fewer parameters and higher accuracy
    pareto_front(rows, cost="latency_ms")        # faster and more accurate
    save_best_model(tuner)                       # best_model.keras and best.json
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os

import keras_tuner
from keras_tuner.engine.trial import Trial, TrialStatus

from keras_resnets import _io, registry, training
from keras_resnets.normalization import with_input_normalization
from keras_resnets.tuning.hypermodel import CONFIG_HP, labels_are_one_hot
from keras_resnets.tuning.latency import read_measurements
from keras_resnets.tuning.space import budget_band, format_count
from keras_resnets.tuning.tuner import DEFINITION_FILE, read_definition

RESULTS_FILE = "results.csv"
BEST_MODEL_FILE = "best_model.keras"
RESULT_COLUMNS = ("trial", "status", "config", "depth", "width", "cardinality", "params",
                  "macs", "latency_ms", "latency_low_ms", "latency_high_ms", "epochs",
                  "val_accuracy", "val_xent", "wall_time_s")
LATENCY_COLUMNS = ("latency_ms", "latency_low_ms", "latency_high_ms")


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
    ``RESULT_COLUMNS``, in trial order. Metrics are those of the trial's best epoch; the
    latency (median and 95% interval, ms) is the search's measurement, None without a
    latency budget.

    Example: ``[r["config"] for r in trial_results("runs/tune")]``.
    """
    definition = _definition(source)
    configs = {c["key"]: c for c in definition["configs"]}
    latencies = read_measurements(_project_dir(source)).get("latencies", {})
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
            "macs": config.get("macs"),
            **{column: latencies.get(key, {}).get(field) for column, field in
               zip(LATENCY_COLUMNS, ("median_ms", "low_ms", "high_ms"), strict=True)},
            "epochs": None if epochs is None else int(epochs),
            "val_accuracy": metric("val_accuracy"),
            "val_xent": metric("val_xent"),  # the cross-entropy; val_loss adds the L2 penalty
            "wall_time_s": metric("wall_time"),
        })
    return rows


def _columns(family, latency=False) -> list[str]:
    return [c for c in RESULT_COLUMNS if (c != "cardinality" or family == "resnext")
            and (c not in LATENCY_COLUMNS or latency)]


def _csv_text(rows, family, latency) -> str:
    columns = _columns(family, latency)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = []
        for column in columns:
            value = row[column]
            if isinstance(value, float) and column != "width":
                value = f"{value:.2f}" if column == "wall_time_s" else \
                    f"{value:.4f}" if column in LATENCY_COLUMNS else f"{value:.6g}"
            values.append("" if value is None else value)
        writer.writerow(values)
    return out.getvalue()


def pareto_front(rows, cost="params") -> list[dict]:
    """The completed trials that no other trial beats on both a lower ``cost``
    (``"params"``, ``"macs"`` or ``"latency_ms"``) and a higher validation accuracy, by
    increasing cost.

    Example: ``[r["config"] for r in pareto_front(trial_results("runs/tune"))]``.
    """
    done = [r for r in rows if r["status"] == TrialStatus.COMPLETED
            and r["val_accuracy"] is not None and r.get(cost) is not None]
    front, best = [], -math.inf
    for row in sorted(done, key=lambda r: (r[cost], -r["val_accuracy"])):
        if row["val_accuracy"] > best:
            front.append(row)
            best = row["val_accuracy"]
    return front


# the panels of accuracy against a cost: (cost, axis label, title)
FRONT_PANELS = (("params", "trainable parameters", "accuracy against parameters"),
                ("macs", "multiply-adds per image", "accuracy against MACs"),
                ("latency_ms", "latency per image, ms (LiteRT, batch 1)",
                 "accuracy against latency"))


def _front_panel(axis, done, cost, style, band):
    """Accuracy against ``cost`` with its Pareto front (and the budget band shaded)."""
    if band:
        axis.axvspan(band[0], band[1], color="0.92", zorder=0, label="budget band")
    axis.scatter([r[cost] for r in done], [r["val_accuracy"] for r in done], **style)
    front = pareto_front(done, cost)
    xs, ys = [r[cost] for r in front], [r["val_accuracy"] for r in front]
    axis.step(xs, ys, where="post", color="crimson", zorder=1)
    axis.scatter(xs, ys, s=160, facecolors="none", edgecolors="crimson", linewidths=1.5,
                 zorder=3, label="Pareto front")
    for r in front:
        axis.annotate(r["config"], (r[cost], r["val_accuracy"]), fontsize=7,
                      xytext=(4, 4), textcoords="offset points")
    axis.legend(loc="best", fontsize=8)


def plot_results(rows, path, *, title=None, width_name="width", band=None, bands=None):
    """Save the figure: validation accuracy against depth (colour: width) and, with their
    Pareto fronts, against parameters, multiply-adds and (when measured) latency.
    ``bands`` maps a cost (``"params"``, ``"macs"``, ``"latency_ms"``) to the band
    ``(low, high)`` it shades; ``band`` is the parameter band.

    Example: ``plot_results(rows, "results.png", bands={"params": (1_350_000, 1_500_000)})``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    bands = dict(bands or {}, **({"params": band} if band else {}))
    done = [r for r in rows if r["status"] == TrialStatus.COMPLETED
            and r["val_accuracy"] is not None]
    panels = [p for p in FRONT_PANELS if p[0] != "latency_ms"
              or any(r.get("latency_ms") is not None for r in done)]
    shape = (2, 2) if len(panels) == 3 else (1, 3)  # depth and the cost panels
    figure = Figure(figsize=(11, 9) if shape == (2, 2) else (15, 4.5), layout="constrained")
    left, *rights = figure.subplots(*shape).ravel()
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
        for axis, (cost, _, _) in zip(rights, panels, strict=False):
            _front_panel(axis, done, cost, style, bands.get(cost))
    else:
        left.text(0.5, 0.5, "no completed trial", ha="center", transform=left.transAxes)
    left.set(xlabel="depth", ylabel="validation accuracy", title="accuracy against depth")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis, (_, label, panel_title) in zip(rights, panels, strict=False):
        axis.set(xlabel=label, ylabel="validation accuracy", title=panel_title)
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
    text = _csv_text(rows, family, "max_latency_ms" in definition)
    path = path or os.path.join(_project_dir(source), RESULTS_FILE)
    _io.write_text(path, text)
    if figure:
        bands, budgets = _bands(definition), []
        for cost, unit in (("params", "parameters"), ("macs", "MACs")):
            if cost in bands:
                budgets.append(f"{format_count(bands[cost][1])} {unit}")
        if "max_latency_ms" in definition:
            budgets.append(f"{definition['max_latency_ms']:g} ms")
        title = f"{family} at {', '.join(budgets)} ({definition['mode']} mode)"
        plot_results(rows, os.path.splitext(path)[0] + ".png", title=title,
                     width_name=registry.tuning_families()[family].width_name, bands=bands)
    return text


def _bands(definition) -> dict:
    """The bands the figure shades: the parameter and MAC bands of the budgets given, and
    the latency budget from 0."""
    bands = {}
    for cost, key in (("params", "budget"), ("macs", "macs_budget")):
        if definition.get(key) is not None:
            bands[cost] = budget_band(definition[key], definition["tolerance"])
    if definition.get("max_latency_ms") is not None:
        bands["latency_ms"] = (0, definition["max_latency_ms"])
    return bands


def format_results(rows, family=None) -> str:
    """The results as an aligned text table (what ``keras-resnets tune`` prints).

    Example: ``print(format_results(trial_results("runs/tune"), "wrn"))``.
    """
    latency = any(r.get("latency_ms") is not None for r in rows)
    columns = [c for c in _columns(family, latency) if c not in LATENCY_COLUMNS[1:]]

    def cell(column, value):
        if value is None:
            return "-"
        if column in ("params", "macs"):
            return f"{int(value):,}"
        if column in ("val_accuracy", "val_xent"):
            return f"{value:.4f}"
        if column == "latency_ms":
            return f"{value:.3f}"
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
    takes raw pixels). ``test_data`` (a pipeline or ``PyDataset`` of normalized held-out
    images) is evaluated once and its accuracy recorded in ``best.json`` as ``test_accuracy``; a
    search with a latency budget adds the candidate's measured ``latency`` there.

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
        training.compile_model(model, "sgd", one_hot=labels_are_one_hot(test_data))
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
    measurements = getattr(tuner.hypermodel, "measurements", None)
    if measurements is not None and key in measurements.latencies:
        info["latency"] = {**dataclasses.asdict(measurements.latencies[key]),
                           **tuner.hypermodel.latency.settings()}
    _io.write_json(os.path.join(os.path.dirname(path), "best.json"), info)
    return path
