"""``keras-resnets train``: a registered model, a paper recipe, a run directory.

Example::

    keras-resnets train wrn-28-10 --dataset cifar10 --recipe wrn --dropout-rate 0.3 \\
        --precision mixed_bfloat16 --steps-per-execution 8 --run-dir runs/wrn-28-10
"""

from __future__ import annotations

import ast
import json
import os

from keras_resnets.cli import command_parser
from keras_resnets.cli.words import counted


def _model_arg(text):
    """``KEY=VALUE``, the value read as JSON (``false``, ``null``, ``[1, 2]``), else as a
    Python literal (``False``, ``None``, ``(1, 2)``), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--model-arg must be KEY=VALUE (e.g. drop_path_rate=0.1); got {text!r}")
    for read in (json.loads, ast.literal_eval):
        try:
            return key.replace("-", "_"), read(value)
        except (ValueError, TypeError, SyntaxError):  # JSONDecodeError is a ValueError
            pass
    return key.replace("-", "_"), value


def add_parser(subparsers, name, summary):
    from keras_resnets.training import PRECISIONS, STRATEGIES, list_recipes

    parser = command_parser(
        subparsers, name, summary,
        "Train a registered model; the run directory receives config, history, curves, "
        "best/last models and metrics. Rerunning the same command resumes a killed run. "
        "On a terminal Keras draws its progress bar; in a log (stdout not a terminal) each "
        "epoch is one plain line, with a heartbeat line every 30 s of a long first epoch.",
        ["keras-resnets train wrn-10-2 --epochs 2",
         "keras-resnets train resnet20 --dataset cifar10 --recipe resnet-cifar > train.log",
         "keras-resnets train wrn-28-10 --dataset cifar10 --recipe wrn --dropout-rate 0.3 "
         "--precision mixed_bfloat16",
         "KERAS_BACKEND=jax keras-resnets train wrn-16-4 --strategy data_parallel "
         "--coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0   # on each machine, "
         "its id"])
    parser.add_argument("model", help="a registry name, e.g. wrn-28-10, resnet56, wrn-10-2")
    parser.add_argument("--dataset", default="digits",
                        help="digits (offline), cifar10, cifar100, svhn_cropped or any tfds "
                        "image classification name (downloaded on first use; offline, pass "
                        "--no-download and --data-dir)")
    parser.add_argument("--recipe", default="fast", choices=list_recipes(),
                        help="training recipe (`docs/training.md` describes each)")
    parser.add_argument("--epochs", type=int,
                        help="epochs (default: the recipe's; its milestones scale)")
    parser.add_argument("--batch-size", type=int, help="global batch (default: the recipe's)")
    parser.add_argument("--lr", type=float, dest="learning_rate",
                        help="peak learning rate (default: the recipe's)")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS,
                        help="float32, or mixed precision with float16 or bfloat16 compute")
    parser.add_argument("--jit-compile", dest="jit_compile", action="store_const", const=True,
                        default="auto", help="force XLA (default: Keras's auto)")
    parser.add_argument("--no-jit-compile", dest="jit_compile", action="store_const",
                        const=False, help="never compile with XLA (default: Keras's auto)")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="training steps per call into the compiled function")
    parser.add_argument("--strategy", default="default", choices=STRATEGIES,
                        help="mirrored: TensorFlow MirroredStrategy; data_parallel: JAX "
                        "keras.distribution.DataParallel")
    parser.add_argument("--cpu-devices", type=int, metavar="N",
                        help="split the CPU into N devices, to try a multi-device run without "
                        "GPUs: N replicas with --strategy mirrored (TensorFlow) or "
                        "data_parallel (JAX) (default: the machine's devices)")
    parser.add_argument("--coordinator", metavar="HOST:PORT",
                        help="address of process 0 when several processes (machines) train "
                        "together: JAX backend, --strategy data_parallel, with "
                        "--num-processes and --process-id (default: one process)")
    parser.add_argument("--num-processes", type=int, metavar="N",
                        help="processes in the job, one per machine (default: 1)")
    parser.add_argument("--process-id", type=int, metavar="I",
                        help="this process, 0..N-1; process 0 writes the run directory "
                        "(default: 0)")
    parser.add_argument("--run-dir", help="run directory (default: runs/<model>-<dataset>-<recipe>)")
    parser.add_argument("--dropout-rate", type=float,
                        help="dropout between convolutions, WRN only (default: the model's, 0)")
    parser.add_argument("--model-arg", action="append", default=[], type=str, metavar="KEY=VALUE",
                        help="another model keyword argument, repeatable, e.g. "
                        "drop_path_rate=0.1 (default: none)")
    augment = parser.add_mutually_exclusive_group()
    augment.add_argument("--augment", dest="augment", action="store_const", const=True,
                         default=None, help="force the dataset's augmentation (default: the "
                         "recipe's choice)")
    augment.add_argument("--no-augment", dest="augment", action="store_const", const=False,
                         help="no augmentation (default: the recipe's choice)")
    parser.add_argument("--cutout", type=int,
                        help="Cutout square side in pixels, 0 = off (default: the recipe's)")
    parser.add_argument("--label-smoothing", type=float,
                        help="label smoothing factor (default: the recipe's)")
    parser.add_argument("--data-dir", help="tensorflow-datasets directory, e.g. a local copy "
                        "on offline machines (default: tensorflow-datasets' own)")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="read --data-dir only, never download (offline machines: a "
                        "missing dataset is refused at once)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights, the shuffling and the augmentation")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run")
    parser.add_argument("--tensorboard", action="store_true",
                        help="write TensorBoard event files into RUN_DIR/tensorboard "
                        "(watch with: tensorboard --logdir RUN_DIR)")
    parser.set_defaults(func=train_command)


def train_command(args):
    if args.cpu_devices is not None:
        _split_cpu(args.cpu_devices)
    from keras_resnets.training import train

    model_kwargs = dict(_model_arg(text) for text in args.model_arg)
    if args.dropout_rate is not None:
        model_kwargs["dropout_rate"] = args.dropout_rate
    result = train(
        args.model, dataset=args.dataset, recipe=args.recipe, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, run_dir=args.run_dir,
        precision=args.precision, strategy=args.strategy, jit_compile=args.jit_compile,
        steps_per_execution=args.steps_per_execution, model_kwargs=model_kwargs,
        augment=args.augment, cutout=args.cutout, label_smoothing=args.label_smoothing,
        data_dir=args.data_dir, download=args.download, seed=args.seed,
        overwrite=args.overwrite, coordinator=args.coordinator,
        num_processes=args.num_processes, process_id=args.process_id,
        tensorboard=args.tensorboard)
    metrics = result.metrics
    best = metrics["best_val_accuracy"]
    print(f"\n{args.model} on {metrics['dataset']}: best validation accuracy "
          f"{'-' if best is None else f'{100 * best:.2f}%'} (epoch {metrics['best_epoch']}, "
          f"best.keras); held-out {metrics['test_split']} accuracy "
          f"{100 * metrics['test_accuracy']:.2f}%, loss {metrics['test_loss']:.4f} "
          f"after {counted(metrics['epochs'], 'epoch')} ({metrics['wall_time_s']:.0f} s) on "
          f"{metrics['replicas']} replica{'s' if metrics['replicas'] > 1 else ''}; "
          f"run directory {result.run_dir}")
    return 0


def _split_cpu(count):
    """``--cpu-devices``: before the backend starts, N logical CPU devices (TensorFlow)
    or N host devices (JAX, through ``XLA_FLAGS``)."""
    if count < 1:
        raise ValueError(f"--cpu-devices must be an integer >= 1 (e.g. 2, 4); got {count}")
    if os.environ.get("KERAS_BACKEND") == "jax":
        flag = f"--xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    else:
        from keras_resnets.training.distribution import use_logical_cpus

        use_logical_cpus(count)

