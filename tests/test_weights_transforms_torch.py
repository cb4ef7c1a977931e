"""preprocessing(tag) against torchvision's own ``weights.transforms()``, on the two
photographs scikit-learn ships (427x640 JPEGs), within 1/255 of a pixel after the crop:
torchvision resizes with antialias and rounds the longer side down and the crop offsets
half to even, and so must we.

torchvision is imported through ``torch_reference.import_torchvision`` (CPU torch, the
CUDA torchvision wheel, and TensorFlow already imported by the conftest).
"""

import importlib.util

import numpy as np
import pytest

pytest.importorskip("torch", reason="the PyTorch comparison tests need the CPU wheel: "
                                    "pip install -e '.[torch]'")
if importlib.util.find_spec("torchvision") is None:
    pytest.skip("needs torchvision: pip install -e '.[torch]'", allow_module_level=True)
import torch  # noqa: E402
import torch_reference  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.datasets import load_sample_images  # noqa: E402

torchvision = torch_reference.import_torchvision()
from torchvision import models  # noqa: E402

import keras_resnets as kr  # noqa: E402

CASES = [  # tag, model, torchvision's weights, what the model does first to its input
    ("torchvision/imagenet1k_v2", None, models.ResNet50_Weights.IMAGENET1K_V2, None),
    ("torchvision/imagenet1k_v1", "resnet50-v1.5", models.ResNet50_Weights.IMAGENET1K_V1,
     None),
    ("torchvision/imagenet1k_v1", "inceptionv3", models.Inception_V3_Weights.IMAGENET1K_V1,
     "transform_input"),
]


def transform_input(x):
    """torchvision's Inception3.transform_input (ImageNet mean/std to (x - 0.5) / 0.5)."""
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    return ((x * std + mean) - 0.5) / 0.5


@pytest.mark.parametrize("tag, model, tv_weights, then", CASES)
def test_matches_torchvision_transforms_on_photographs(tag, model, tv_weights, then):
    prepare = kr.preprocessing(tag, model)
    std = np.asarray(prepare.layers[-1].std)
    reference = tv_weights.transforms()
    for photo in load_sample_images().images:
        ours = np.asarray(prepare(photo))
        for theirs in (reference(torch.from_numpy(photo.copy()).permute(2, 0, 1)),  # uint8
                       reference(Image.fromarray(photo))):                          # PIL
            theirs = theirs.permute(1, 2, 0).numpy()
            if then == "transform_input":
                theirs = transform_input(theirs)
            assert ours.shape == theirs.shape == (reference.crop_size[0],) * 2 + (3,)
            # back to [0, 1] pixels: at most 1/255 apart (torchvision's uint8 path rounds)
            assert np.abs((ours - theirs) * std).max() <= 1 / 255
