"""``keras-resnets list`` and ``keras-resnets info``: the model zoo from the registry.

Both run on plain Python: the registry and the analytic counter import no TensorFlow.

Example::

    keras-resnets list 'mobilenetv2-*'
    keras-resnets info wrn-28-10
"""

from __future__ import annotations

from keras_resnets.cli import command_parser


def add_parser(subparsers, name, summary):
    if name == "list":
        parser = command_parser(
            subparsers, "list", summary,
            "List the registered model names, sorted by family and then numerically "
            "(mobilenetv2-0.35 before mobilenetv2-0.5). Families also build other valid "
            "members of their pattern, e.g. wrn-40-10 or resnet74.",
            ["keras-resnets list", "keras-resnets list 'wrn-*'", "keras-resnets list '*v2'"])
        parser.add_argument("pattern", nargs="?", default=None,
                            help="shell-style filter, e.g. 'wrn-*' or 'resnet*v2' "
                                 "(default: every name)")
        parser.set_defaults(func=list_command)
    else:
        parser = command_parser(
            subparsers, "info", summary,
            "Trainable and total parameters, multiply-adds, weighted layers, paper and "
            "published test errors of one model, counted analytically (no model is built).",
            ["keras-resnets info wrn-28-10", "keras-resnets info resnet50"])
        parser.add_argument("name", help="a registry name, e.g. wrn-28-10 or resnet50")
        parser.set_defaults(func=info_command)


def list_command(args):
    from keras_resnets.registry import list_models

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; run 'keras-resnets list' for "
                         "every name")
    print("\n".join(names))
    return 0


def paper_errors_line(info) -> str:
    """``CIFAR-10 4.00, CIFAR-100 19.25 (Zagoruyko & Komodakis 2016, Table 4)``, or "-"."""
    if not info["paper_errors"]:
        return "-"
    figures = ", ".join(f"{dataset} {error}" for dataset, error in info["paper_errors"].items())
    return f"{figures} ({info['paper_errors_source']})"


def info_command(args):
    from keras_resnets.registry import model_info

    info = model_info(args.name)
    height, width, _ = info["input_shape"]
    rows = [
        ("name", info["name"]),
        ("family", info["family"]),
        ("trainable parameters", f"{info['trainable_params']:,}"),
        ("total parameters", f"{info['total_params']:,} (with BatchNorm moving statistics)"),
        ("MACs", f"{info['macs'] / 1e9:.3f} G at {height}x{width}, {info['classes']} classes"),
        ("weighted layers", str(info["weighted_layers"])),
        ("paper", info["paper"]),
        ("paper test error (%)", paper_errors_line(info)),
        ("keras.applications compatible", "yes" if info["keras_applications_compatible"] else "no"),
        ("ImageNet weights", "yes (Keras's files)" if info["imagenet_weights"] else "no"),
        ("weights= tags", ", ".join(info["weights"]) or "none"),
    ]
    width_ = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width_}}  {value}")
    return 0
