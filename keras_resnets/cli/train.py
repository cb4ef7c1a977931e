"""``keras-resnets train``: a registered model, a paper recipe, a run directory.

Example::

    keras-resnets train wrn-28-10 --dataset cifar10 --recipe wrn --dropout-rate 0.3 \\
        --precision mixed_bfloat16 --steps-per-execution 8 --run-dir runs/wrn-28-10
"""

from __future__ import annotations

import json

from keras_resnets.training import PRECISIONS, STRATEGIES, list_recipes, train


def _model_arg(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--model-arg must be KEY=VALUE (e.g. drop_path_rate=0.1); got {text!r}")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def register(subparsers):
    parser = subparsers.add_parser("train", help="train a model with a paper recipe",
                                   description="Train a registered model; the run directory "
                                   "receives config, history, curves, best/last models and "
                                   "metrics. Rerunning the same command resumes a killed run.")
    parser.add_argument("model", help="a registry name, e.g. wrn-28-10, resnet56, wrn-10-2")
    parser.add_argument("--dataset", default="digits",
                        help="digits (offline), cifar10, cifar100, svhn_cropped or any tfds "
                        "image classification name (default: digits)")
    parser.add_argument("--recipe", default="fast", choices=list_recipes(),
                        help="training recipe (default: fast)")
    parser.add_argument("--epochs", type=int, help="default: the recipe's; milestones scale")
    parser.add_argument("--batch-size", type=int, help="global batch; default: the recipe's")
    parser.add_argument("--lr", type=float, dest="learning_rate", help="peak learning rate")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    parser.add_argument("--jit-compile", dest="jit_compile", action="store_const", const=True,
                        default="auto", help="force XLA (default: Keras's auto)")
    parser.add_argument("--no-jit-compile", dest="jit_compile", action="store_const", const=False)
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--strategy", default="default", choices=STRATEGIES,
                        help="mirrored: TensorFlow MirroredStrategy; data_parallel: JAX "
                        "keras.distribution.DataParallel")
    parser.add_argument("--run-dir", help="default: runs/<model>-<dataset>-<recipe>")
    parser.add_argument("--dropout-rate", type=float, help="dropout between convolutions (WRN)")
    parser.add_argument("--model-arg", action="append", default=[], type=str, metavar="KEY=VALUE",
                        help="another model keyword argument (repeatable)")
    augment = parser.add_mutually_exclusive_group()
    augment.add_argument("--augment", dest="augment", action="store_const", const=True,
                         default=None, help="force the dataset's augmentation")
    augment.add_argument("--no-augment", dest="augment", action="store_const", const=False)
    parser.add_argument("--cutout", type=int, help="Cutout square side (0 = off)")
    parser.add_argument("--label-smoothing", type=float)
    parser.add_argument("--data-dir", help="tfds data_dir (a local copy on offline machines)")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="read data_dir only, never download")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run")
    parser.set_defaults(func=train_command)


def train_command(args):
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
        overwrite=args.overwrite)
    metrics = result.metrics
    print(f"\n{args.model} on {metrics['dataset']}: test accuracy "
          f"{100 * metrics['test_accuracy']:.2f}%, test loss {metrics['test_loss']:.4f} "
          f"after {metrics['epochs']} epochs ({metrics['wall_time_s']:.0f} s); "
          f"run directory {result.run_dir}")
    return 0

