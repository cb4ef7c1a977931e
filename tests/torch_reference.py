"""What the PyTorch comparison tests share: a reference network with random weights and
BatchNorm statistics, and its safetensors checkpoint. Import it after
``pytest.importorskip("torch")``.

Example::

    net = randomised(lambda: Xception(classes=10))
    path = checkpoint(net, tmp_path / "xception.safetensors")
"""

import torch
from safetensors.torch import save_file
from torch import nn


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
