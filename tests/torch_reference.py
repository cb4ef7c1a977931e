"""What the PyTorch comparison tests share: a reference network with random weights and
BatchNorm statistics, and its safetensors checkpoint. Import it after
``pytest.importorskip("torch")``.

Example::

    net = randomised(lambda: Xception(classes=10))
    path = checkpoint(net, tmp_path / "xception.safetensors")
"""

import importlib
import sys

import torch
from safetensors.torch import save_file
from torch import nn


def import_torchvision():
    """torchvision's models and transforms, importable against the CPU torch wheel.

    The only torchvision wheel on our machines is a CUDA build whose C extension does not
    load against CPU torch; its import then stops at ``torchvision::nms does not exist``.
    The models and transforms use none of its C ops, so the two schemas it registers fakes
    for are declared and the import is retried. ``triton`` is hidden: importing it after
    TensorFlow crashes in its native library."""
    sys.modules.setdefault("triton", None)
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as error:
        if "does not exist" not in str(error):
            raise
    for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
        del sys.modules[name]
    library = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import_torchvision.schemas = library  # kept alive: dropping the library drops them
    return importlib.import_module("torchvision")


def randomised(make, seed=0, gamma=True):
    """``make()`` built under ``seed``, its BatchNorms given random gamma (1 with
    ``gamma=False``: loadable into Keras's gamma-free BatchNorm), beta and statistics; in
    eval mode."""
    torch.manual_seed(seed)
    net = make()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5) if gamma else module.weight.fill_(1.0)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def checkpoint(net, path):
    """Save ``net``'s state dict as safetensors at ``path``; returns the path as a str."""
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return str(path)


def load_unchecked(model, path):
    """``path``'s tensors set into ``model`` by the loader's own matching, without the
    check of the build options (to show what a model built without them would compute)."""
    from keras_resnets.weights import torch_import

    torch_import.assign(model, torch_import.read(path))
    return model
