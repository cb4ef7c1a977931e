"""``keras-resnets list`` and ``keras-resnets info``: the model zoo from the registry."""

from __future__ import annotations


def register(subparsers):
    listing = subparsers.add_parser("list", help="list registered model names")
    listing.add_argument("pattern", nargs="?", default=None,
                         help="shell-style filter, e.g. 'wrn-*' or 'resnet*v2'")
    listing.set_defaults(func=list_command)
    info = subparsers.add_parser("info", help="parameters, MACs and paper of one model")
    info.add_argument("name", help="a registry name, e.g. wrn-28-10 or resnet50")
    info.set_defaults(func=info_command)


def list_command(args):
    from keras_resnets import list_models

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; try 'keras-resnets list'")
    print("\n".join(names))
    return 0


def info_command(args):
    from keras_resnets import model_info

    info = model_info(args.name)
    height, width, _ = info["input_shape"]
    rows = [
        ("name", info["name"]),
        ("family", info["family"]),
        ("trainable parameters", f"{info['trainable_params']:,}"),
        ("total parameters", f"{info['total_params']:,}"),
        ("MACs", f"{info['macs'] / 1e9:.3f} G at {height}x{width}, {info['classes']} classes"),
        ("weighted layers", str(info["weighted_layers"])),
        ("paper", info["paper"]),
        ("paper test error (%)", info["paper_error"] or "-"),
        ("keras.applications compatible", "yes" if info["keras_applications_compatible"] else "no"),
        ("ImageNet weights", "yes (Keras's files)" if info["imagenet_weights"] else "no"),
    ]
    width_ = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width_}}  {value}")
    return 0
