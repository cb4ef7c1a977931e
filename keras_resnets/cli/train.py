"""``keras-resnets train`` and ``keras-resnets demo``.

Example::

    keras-resnets train wrn-28-10 --dataset cifar10 --recipe wrn --dropout-rate 0.3 \\
        --precision mixed_bfloat16 --steps-per-execution 8 --run-dir runs/wrn-28-10
    keras-resnets demo            # WRN on the offline digits set, on the CPU
"""

from __future__ import annotations

import json

DEMO_MODEL = "wrn-10-2"
DEMO_EPOCHS = 12
DEMO_BATCH_SIZE = 64


def _model_arg(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--model-arg must be KEY=VALUE (e.g. drop_path_rate=0.1); got {text!r}")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def register(subparsers):
    from keras_resnets.training import PRECISIONS, STRATEGIES, list_recipes

    train = subparsers.add_parser("train", help="train a model with a paper recipe",
                                  description="Train a registered model; the run directory "
                                  "receives config, history, curves, best/last models and "
                                  "metrics. Rerunning the same command resumes a killed run.")
    train.add_argument("model", help="a registry name, e.g. wrn-28-10, resnet56, wrn-10-2")
    train.add_argument("--dataset", default="digits",
                       help="digits (offline), cifar10, cifar100, svhn_cropped or any tfds "
                       "image classification name (default: digits)")
    train.add_argument("--recipe", default="fast", choices=list_recipes(),
                       help="training recipe (default: fast)")
    train.add_argument("--epochs", type=int, help="default: the recipe's; milestones scale")
    train.add_argument("--batch-size", type=int, help="global batch; default: the recipe's")
    train.add_argument("--lr", type=float, dest="learning_rate", help="peak learning rate")
    train.add_argument("--precision", default="float32", choices=PRECISIONS)
    train.add_argument("--jit-compile", dest="jit_compile", action="store_const", const=True,
                       default="auto", help="force XLA (default: Keras's auto)")
    train.add_argument("--no-jit-compile", dest="jit_compile", action="store_const", const=False)
    train.add_argument("--steps-per-execution", type=int, default=1)
    train.add_argument("--strategy", default="default", choices=STRATEGIES,
                       help="mirrored: TensorFlow MirroredStrategy; data_parallel: JAX "
                       "keras.distribution.DataParallel")
    train.add_argument("--run-dir", help="default: runs/<model>-<dataset>-<recipe>")
    train.add_argument("--dropout-rate", type=float, help="dropout between convolutions (WRN)")
    train.add_argument("--model-arg", action="append", default=[], type=str, metavar="KEY=VALUE",
                       help="another model keyword argument (repeatable)")
    augment = train.add_mutually_exclusive_group()
    augment.add_argument("--augment", dest="augment", action="store_const", const=True,
                         default=None, help="force the dataset's augmentation")
    augment.add_argument("--no-augment", dest="augment", action="store_const", const=False)
    train.add_argument("--cutout", type=int, help="Cutout square side (0 = off)")
    train.add_argument("--label-smoothing", type=float)
    train.add_argument("--data-dir", help="tfds data_dir (a local copy on offline machines)")
    train.add_argument("--no-download", dest="download", action="store_false",
                       help="read data_dir only, never download")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--overwrite", action="store_true", help="replace a finished run")
    train.set_defaults(func=train_command)

    demo = subparsers.add_parser("demo", help="train a small Wide ResNet on the offline "
                                 "digits set on the CPU, report accuracy, export TFLite")
    demo.add_argument("--model", default=DEMO_MODEL, help=f"default: {DEMO_MODEL}")
    demo.add_argument("--epochs", type=int, default=DEMO_EPOCHS)
    demo.add_argument("--batch-size", type=int, default=DEMO_BATCH_SIZE)
    demo.add_argument("--run-dir", default="runs/demo")
    demo.add_argument("--no-export", dest="export", action="store_false",
                      help="skip the TFLite export")
    demo.set_defaults(func=demo_command)


def train_command(args):
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
        overwrite=args.overwrite)
    metrics = result.metrics
    print(f"\n{args.model} on {metrics['dataset']}: test accuracy "
          f"{100 * metrics['test_accuracy']:.2f}%, test loss {metrics['test_loss']:.4f} "
          f"after {metrics['epochs']} epochs ({metrics['wall_time_s']:.0f} s); "
          f"run directory {result.run_dir}")
    return 0


def demo_command(args):
    from keras_resnets.training import demo

    demo(model=args.model, epochs=args.epochs, batch_size=args.batch_size,
         run_dir=args.run_dir, export=args.export)
    return 0
