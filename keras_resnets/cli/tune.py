"""``keras-resnets tune``: a Keras Tuner search over depth and width under a parameter,
multiply-add and/or latency budget.

Example::

    keras-resnets tune --family wrn --budget 1.5M --dataset cifar10 --oracle bayesian \\
        --max-trials 20 --epochs 15 --dir runs/tune
    keras-resnets tune --family wrn --budget 1.5M --mode iso --list     # the feasible set only
    keras-resnets tune --family wrn --budget-macs 100M --max-latency-ms 0.5 --list

    # distributed (Keras Tuner's chief/worker mode), the same command on every machine:
    keras-resnets tune ... --dir /shared/tune --chief --oracle-ip 10.0.0.1 --oracle-port 8000
    keras-resnets tune ... --dir /shared/tune --worker --oracle-ip 10.0.0.1 --oracle-port 8000
"""

from __future__ import annotations

from keras_resnets.cli import command_parser


def _int_list(text, flag):
    """``"10,16"`` -> ``[10, 16]``; None (the option not given) stays None."""
    if text is None:
        return None
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        values = []
    if not values:
        raise ValueError(f"{flag} must be comma-separated integers such as 10,16,22 (or leave "
                         f"{flag} out for the family's); got {text!r}")
    return values


def add_parser(subparsers, name, summary):
    parser = command_parser(
        subparsers, name, summary,
        "Keras Tuner search over the depth and width of a residual family, restricted to "
        "the configurations whose parameter count lies within --tolerance below --budget "
        "and/or whose multiply-adds lie within --tolerance below --budget-macs; with "
        "--max-latency-ms, the candidates slower than it in LiteRT on this machine are "
        "dropped before training. "
        "Prints one line per trial and the results table at the end; writes results.csv, "
        "results.png and best_model.keras into --dir. Rerunning the same command resumes "
        "an interrupted search.",
        ["keras-resnets tune --family wrn --budget 1.5M --mode iso --list",
         "keras-resnets tune --family wrn --budget-macs 60M --max-latency-ms 0.5 "
         "--dataset digits --max-trials 6 --epochs 5 --dir runs/tune-latency",
         "keras-resnets tune --family wrn --budget 1.5M --dataset cifar10 --oracle bayesian "
         "--max-trials 20 --epochs 15 --dir runs/tune",
         "keras-resnets tune ... --dir /shared/tune --chief --oracle-ip 10.0.0.1 "
         "--oracle-port 8000"])
    space = parser.add_argument_group("search space")
    space.add_argument("--family", required=True,
                       help="wrn, resnet, resnext or densenet-bc")
    space.add_argument("--budget", default=None,
                       help="trainable parameters: 1500000, 1.5M, 800k (this and/or "
                            "--budget-macs; default: none)")
    space.add_argument("--budget-macs", dest="macs_budget", default=None,
                       help="multiply-adds for one image of --dataset: 60M, 1.2G "
                            "(default: none)")
    space.add_argument("--tolerance", type=float, default=0.1,
                       help="admit counts down to (1 - tolerance) * budget (each budget)")
    space.add_argument("--mode", default="grid",
                       help="grid: integer widths from --widths; iso: the width solved per "
                            "depth to meet the budget")
    space.add_argument("--depths", help="comma-separated depths, e.g. 10,16,22,28 "
                                        "(default: the family's, `--list` shows them)")
    space.add_argument("--widths", help="comma-separated integer widths (grid mode): WRN k, "
                                        "ResNet multiplier, ResNeXt d, DenseNet growth rate "
                                        "(default: the family's)")
    space.add_argument("--cardinalities", help="ResNeXt cardinalities, e.g. 2,4,8 "
                                               "(default: the family's)")
    space.add_argument("--list", action="store_true",
                       help="print the feasible configurations and exit (no training; with "
                            "--max-latency-ms, their measured latency)")
    latency = parser.add_argument_group("latency budget (LiteRT, batch 1, this machine)")
    latency.add_argument("--max-latency-ms", type=float, default=None,
                         help="drop the candidates slower than this, measured before training "
                              "and cached (default: no latency budget)")
    latency.add_argument("--latency-threads", type=int, default=1,
                         help="LiteRT interpreter threads of the measurement")
    latency.add_argument("--latency-quantization", default="int8",
                         help="int8, float16, dynamic or none: the TFLite file measured")
    latency.add_argument("--latency-cache", default=None,
                         help="directory of the measurements (default "
                              "~/.cache/keras_resnets/latency)")
    search = parser.add_argument_group("search")
    search.add_argument("--oracle", default="random",
                        help="random, grid, bayesian or hyperband")
    search.add_argument("--max-trials", type=int, default=10,
                        help="trials at most (Hyperband: set by --epochs and --factor)")
    search.add_argument("--epochs", type=int, default=10,
                        help="epochs per trial (Hyperband: the most epochs of a trial)")
    search.add_argument("--objective", default="val_accuracy",
                        help="metric to optimise: val_accuracy or val_loss")
    search.add_argument("--factor", type=int, default=3, help="Hyperband reduction factor")
    search.add_argument("--initial-points", type=int, default=None,
                        help="random trials before Bayesian optimisation models (default 3)")
    search.add_argument("--seed", type=int, default=None,
                        help="seed of the oracle and the trials (default: none, a new search "
                             "each time)")
    search.add_argument("--dir", default="runs/tune",
                        help="search directory; a directory holding another search is "
                             "refused")
    search.add_argument("--overwrite", action="store_true",
                        help="discard what --dir holds and start afresh")
    search.add_argument("--tensorboard", action="store_true",
                        help="write TensorBoard event files, a folder per trial with its "
                        "hyperparameters, into DIR/tensorboard (watch with: tensorboard "
                        "--logdir DIR/tensorboard)")
    training = parser.add_argument_group("training of each trial")
    training.add_argument("--dataset", default="digits",
                          help="digits (offline) or a tensorflow-datasets name (cifar10, ...)")
    training.add_argument("--recipe", default=None,
                          help="training recipe (default: the family's: wrn, resnet-cifar, "
                               "densenet; 'fast' for quick runs)")
    training.add_argument("--batch-size", type=int, default=None,
                          help="default: the recipe's")
    training.add_argument("--train-split", default=None,
                          help="split the trials train on (default: the dataset's training "
                               "split)")
    training.add_argument("--val-split", default=None,
                          help="split that scores the trials (default: the held-out split)")
    training.add_argument("--train-samples", type=int, default=None,
                          help="cap the training examples per epoch, for quick runs "
                               "(default: all)")
    training.add_argument("--val-samples", type=int, default=None,
                          help="cap the validation examples (default: all)")
    training.add_argument("--no-jit", action="store_true",
                          help="no XLA compilation (faster for tiny models on CPU)")
    training.add_argument("--eager", action="store_true",
                          help="run trials eagerly, no graph tracing (faster only for a few "
                               "steps of tiny models: smoke tests)")
    training.add_argument("--steps-per-execution", type=int, default=1,
                          help="training steps per host dispatch (default 1; e.g. 8 keeps a "
                               "GPU busy with small models)")
    dist = parser.add_argument_group("distributed search (Keras Tuner chief/worker)")
    role = dist.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true",
                      help="serve the oracle at --oracle-ip:--oracle-port and write the results")
    role.add_argument("--worker", action="store_true", help="run trials for the chief")
    dist.add_argument("--oracle-ip", default=None,
                      help="the chief's address (default $KERASTUNER_ORACLE_IP)")
    dist.add_argument("--oracle-port", default=None,
                      help="the chief's port (default $KERASTUNER_ORACLE_PORT)")
    dist.add_argument("--tuner-id", default=None,
                      help="this worker's id (default $KERASTUNER_TUNER_ID or worker-<host>-<pid>)")
    parser.add_argument("--quiet", action="store_true", help="print only the results table")
    parser.set_defaults(func=tune_command)


def _space_arguments(args):
    return dict(
        macs_budget=args.macs_budget, tolerance=args.tolerance, mode=args.mode,
        depths=_int_list(args.depths, "--depths"), widths=_int_list(args.widths, "--widths"),
        cardinalities=_int_list(args.cardinalities, "--cardinalities"))


def _latency_budget(args):
    from keras_resnets.tuning.latency import LatencyBudget

    if args.max_latency_ms is None:
        return None
    return LatencyBudget(args.max_latency_ms, args.latency_threads, args.latency_quantization,
                         args.latency_cache)


def list_command(args):
    from keras_resnets import data, registry, tuning
    from keras_resnets.tuning.latency import measure_configs

    info = data.dataset_info(args.dataset)
    budget = _latency_budget(args)
    space = tuning.search_space(args.family, args.budget, input_shape=info.input_shape,
                                classes=info.num_classes, **_space_arguments(args))
    configs = space.configs()
    latencies = {}
    if budget is not None:
        measurements = measure_configs(configs, budget, input_shape=info.input_shape,
                                       classes=info.num_classes,
                                       normalization=(info.mean, info.std))
        latencies = measurements.latencies
    resnext = space.cardinalities is not None
    rows = [("config", "depth", "width") + (("cardinality",) if resnext else ())
            + ("params", "MACs") + (("latency ms [95% interval]",) if latencies else ())]
    rows += [(c.key, str(c.depth), registry.format_number(c.width))
             + ((str(c.cardinality),) if resnext else ()) + (f"{c.params:,}", f"{c.macs:,}")
             + ((latencies[c.key].text()
                 + (" over" if latencies[c.key].median_ms > budget.max_ms else ""),)
                if latencies else ())
             for c in configs]
    sizes = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(v.ljust(s) if i == 0 else v.rjust(s)
                        for i, (v, s) in enumerate(zip(row, sizes, strict=True))))
    bands = " and ".join(f"[{band.low:,}, {band.high:,}] {band.unit}" for band in space.bands)
    print(f"{len(configs)} configurations of {space.family} within {bands} for {info.name} "
          f"({info.num_classes} classes)")
    if latencies:
        print(measurements.summary(budget))
    return 0


def tune_command(args):
    from keras_resnets import tuning

    if args.list:
        return list_command(args)
    role = "chief" if args.chief else "worker" if args.worker else None
    result = tuning.run_search(
        args.family, args.budget, max_latency_ms=args.max_latency_ms,
        latency_threads=args.latency_threads, latency_quantization=args.latency_quantization,
        latency_cache=args.latency_cache, dataset=args.dataset, oracle=args.oracle,
        max_trials=args.max_trials, epochs=args.epochs, directory=args.dir,
        recipe=args.recipe, batch_size=args.batch_size, objective=args.objective,
        seed=args.seed, overwrite=args.overwrite, train_split=args.train_split,
        val_split=args.val_split, train_samples=args.train_samples,
        val_samples=args.val_samples, factor=args.factor,
        num_initial_points=args.initial_points, jit_compile=False if args.no_jit else "auto",
        run_eagerly=args.eager, steps_per_execution=args.steps_per_execution,
        role=role, tuner_id=args.tuner_id, oracle_ip=args.oracle_ip,
        oracle_port=args.oracle_port, verbose=0 if args.quiet else 1,
        tensorboard=args.tensorboard,
        **_space_arguments(args))
    if args.quiet and result.rows:
        print(tuning.format_results(result.rows, result.tuner.hypermodel.family))
    return 0
