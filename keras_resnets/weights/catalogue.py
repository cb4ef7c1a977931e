"""The weights catalogue: one record per (model, published weights).

A record says where the file is, how the network was trained to see its input (size,
resize interpolation and crop, mean/std or keras.applications' preprocessing mode) and
what the source reports for it (ImageNet top-1, parameter count). Tags read
``"<source>/<name>"``: ``"keras/imagenet"`` (also ``weights="imagenet"``),
``"torchvision/imagenet1k_v1"``, ``"torchvision/imagenet1k_v2"``, ``"timm/a1_in1k"``,
``"timm/tf_in1k"`` (legacy_xception), ``"timm/a1h_in1k"`` (resnetv2_50).

Facts come from the sources' own tables: torchvision's ``Weights`` metadata
(``acc@1``, ``num_params``, resize/crop), timm's ``default_cfgs`` (file, crop_pct,
interpolation) and the keras.applications table. timm hosts every file here as
safetensors on the Hugging Face hub, torchvision's among them; their hashes are not
published, so ``sha256`` is None and the download is not checked.

Example::

    records("resnet50-v1.5")                 # {"torchvision/imagenet1k_v1": ..., ...}
    records("resnet50-v1.5")["timm/a1_in1k"].url
"""

from __future__ import annotations

import dataclasses
import math

from keras_resnets.weights import hashes
from keras_resnets.weights.keras_files import IMAGENET, KERAS_MODES, KERAS_URL

CAFFE_MEAN = (103.939, 116.779, 123.68)  # keras.applications' "caffe" mode: BGR, 0..255
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HUB = "https://huggingface.co/timm/{}/resolve/main/model.safetensors"


@dataclasses.dataclass(frozen=True)
class Transform:
    """An evaluation transform: resize the shorter side to ``resize`` (``interpolation``,
    ``antialias``; the longer side rounded down, as torchvision's ``Resize``), crop the
    central ``crop`` x ``crop``, then ``(pixel * scale - mean) / std`` per channel, the
    channels reversed first when ``channels == "bgr"``. Pixels come in as RGB in [0, 255].

    Example::

        Transform(resize=232, crop=224, interpolation="bilinear")   # torchvision's v2
    """

    resize: int
    crop: int
    interpolation: str
    antialias: bool = True
    scale: float = 1 / 255
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    channels: str = "rgb"

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, config) -> Transform:
        return cls(**{**config, "mean": tuple(config["mean"]), "std": tuple(config["std"])})


@dataclasses.dataclass(frozen=True)
class WeightRecord:
    """One published set of weights for one registered model.

    ``layout``: ``"keras"`` (a keras.applications .h5 file) or ``"torch"`` (a safetensors
    state dict read by :mod:`keras_resnets.weights.torch_import`). ``keras_mode``: the
    keras.applications preprocessing mode (``"caffe"``, ``"tf"``, ``"torch"``), else
    ``mean``/``std`` on [0, 1] pixels. ``resize``: the shorter side before the centre
    crop of ``input_size``. ``origin``: the file the source itself publishes.
    ``options``: the builder options the weights need, ``(name, value)`` pairs
    (torchvision's InceptionV3: ``(("padding", "torch"),)``). ``antialias``: whether the
    resize filters as it shrinks (torchvision's ``antialias=True``, timm's PIL resize).
    """

    model: str
    tag: str
    source: str
    url: str
    license: str
    input_size: int
    resize: int
    interpolation: str
    top1: float | None
    params: int | None
    layout: str = "torch"
    keras_mode: str | None = None
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    classes: int = 1000
    sha256: str | None = None
    origin: str | None = None
    options: tuple = ()
    antialias: bool = True

    @property
    def transform(self) -> Transform:
        """The evaluation transform the source measured these weights with."""
        common = dict(resize=self.resize, crop=self.input_size,
                      interpolation=self.interpolation, antialias=self.antialias)
        if self.keras_mode == "caffe":
            return Transform(**common, scale=1.0, mean=CAFFE_MEAN, std=(1.0, 1.0, 1.0),
                             channels="bgr")
        if self.keras_mode == "tf":
            return Transform(**common, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        return Transform(**common, mean=self.mean, std=self.std)

    @property
    def origin_sha256_prefix(self) -> str | None:
        """The SHA-256 prefix in the source's own file name (torchvision's
        ``resnet50-11ad3fa6.pth``), checked when that file is downloaded as a URL."""
        return hashes.torch_hub_prefix(self.origin) if self.origin else None

    @property
    def file_name(self) -> str:
        """The cached file's name: model, source and tag, so tags never collide."""
        return f"{self.model}.{self.tag.replace('/', '-')}.safetensors"


_TV = "https://download.pytorch.org/models/"
_TV_LICENSE = "BSD-3-Clause (torchvision); ImageNet terms of use"
# registry name -> (timm name, torchvision v1 file, acc@1, v2 file or None, acc@1, params)
_TORCHVISION = {
    "resnet18": ("resnet18", "resnet18-5c106cde.pth", 69.758, None, None, 11689512),
    "resnet34": ("resnet34", "resnet34-333f7ec4.pth", 73.314, None, None, 21797672),
    "resnet50-v1.5": ("resnet50", "resnet50-19c8e357.pth", 76.130, "resnet50-11ad3fa6.pth",
                      80.858, 25557032),
    "resnet101-v1.5": ("resnet101", "resnet101-5d3b4d8f.pth", 77.374,
                       "resnet101-cd907fc2.pth", 81.886, 44549160),
    "resnet152-v1.5": ("resnet152", "resnet152-b121ed2d.pth", 78.312,
                       "resnet152-f82ba261.pth", 82.284, 60192808),
    "wide-resnet50-2": ("wide_resnet50_2", "wide_resnet50_2-95faca4d.pth", 78.468,
                        "wide_resnet50_2-9ba9bcbe.pth", 81.602, 68883240),
    "wide-resnet101-2": ("wide_resnet101_2", "wide_resnet101_2-32ee1156.pth", 78.848,
                         "wide_resnet101_2-d733dc28.pth", 82.510, 126886696),
    "resnext50-32x4d": ("resnext50_32x4d", "resnext50_32x4d-7cdf4587.pth", 77.618,
                        None, None, 25028904),
    "resnext101-32x8d": ("resnext101_32x8d", "resnext101_32x8d-8ba56ff5.pth", 79.312,
                         None, None, 88791336),
    "densenet121": ("densenet121", "densenet121-a639ec97.pth", 74.434, None, None, 7978856),
    "densenet161": ("densenet161", "densenet161-8d451a50.pth", 77.138, None, None, 28681000),
    "densenet169": ("densenet169", "densenet169-b2777c0a.pth", 75.600, None, None, 14149480),
    "densenet201": ("densenet201", "densenet201-c1103571.pth", 76.896, None, None, 20013928),
}
# timm's ResNet Strikes Back weights (a1: bicubic, crop 0.95 at 224; timm's _rcfg)
_TIMM_A1 = {"resnet18": "resnet18", "resnet34": "resnet34", "resnet50-v1.5": "resnet50",
            "resnet101-v1.5": "resnet101", "resnet152-v1.5": "resnet152",
            "resnext50-32x4d": "resnext50_32x4d"}
_KERAS = {  # registry name -> (file key, keras.applications top-1)
    "resnet50": ("resnet50", 74.9), "resnet101": ("resnet101", 76.4),
    "resnet152": ("resnet152", 76.6), "resnet50v2": ("resnet50v2", 76.0),
    "resnet101v2": ("resnet101v2", 77.2), "resnet152v2": ("resnet152v2", 78.0),
    "densenet121": ("densenet121", 75.0), "densenet169": ("densenet169", 76.2),
    "densenet201": ("densenet201", 77.3), "xception": ("xception", 79.0),
    "inceptionv3": ("inceptionv3", 77.9), "mobilenetv2-1.0": ("mobilenetv2_1.0", 71.3),
}


def _build() -> dict:
    table = {}

    def add(record):
        table.setdefault(record.model, {})[record.tag] = record

    for model, (key, top1) in _KERAS.items():
        files = IMAGENET[key]
        size = 299 if key in ("xception", "inceptionv3") else 224
        add(WeightRecord(model, "keras/imagenet", "keras.applications",
                         f"{KERAS_URL}{files.folder}/", "Apache-2.0 (Keras); ImageNet terms of use",
                         size, size * 256 // 224, "bilinear", top1, None, layout="keras",
                         keras_mode=KERAS_MODES.get(key, "tf")))
    for model, (timm_name, v1, top1, v2, top1_v2, params) in _TORCHVISION.items():
        add(WeightRecord(model, "torchvision/imagenet1k_v1", "torchvision",
                         HUB.format(f"{timm_name}.tv_in1k"), _TV_LICENSE, 224, 256, "bilinear",
                         top1, params, origin=_TV + v1))
        if v2:
            add(WeightRecord(model, "torchvision/imagenet1k_v2", "torchvision",
                             HUB.format(f"{timm_name}.tv2_in1k"), _TV_LICENSE, 224, 232,
                             "bilinear", top1_v2, params, origin=_TV + v2))
    # torchvision's InceptionV3 (ported from TensorFlow) in torchvision's variant of our
    # network; its pretrained model sets transform_input, which turns ImageNet mean/std
    # input into (x - 0.5) / 0.5: mean = std = 0.5 here, i.e. [-1, 1]. timm's copy keeps the
    # AuxLogits tensors (the loader drops them); 27,161,264 parameters with them (torchvision),
    # 23,834,568 without.
    add(WeightRecord("inceptionv3", "torchvision/imagenet1k_v1", "torchvision",
                     HUB.format("inception_v3.tv_in1k"),
                     "BSD-3-Clause (torchvision), Apache-2.0 (the TensorFlow original, timm's "
                     "copy); ImageNet terms of use", 299, 342, "bilinear", 77.294, 23834568,
                     mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                     origin=_TV + "inception_v3_google-0cc3c7bd.pth",
                     options=(("padding", "torch"),)))
    for model, timm_name in _TIMM_A1.items():
        add(WeightRecord(model, "timm/a1_in1k", "timm", HUB.format(f"{timm_name}.a1_in1k"),
                         "Apache-2.0 (timm); ImageNet terms of use", 224, round(224 / 0.95),
                         "bicubic", None, _TORCHVISION[model][5]))
    # timm's own: legacy_xception (Keras's Xception weights, ported by Cadene; the top-1 is
    # the one timm's module docstring reports) and ResNetV2-50 (a1h recipe). timm resizes
    # to floor(size / crop_pct): 299 / 0.8975 -> 333, 224 / 0.95 -> 235.
    add(WeightRecord("xception", "timm/tf_in1k", "timm", HUB.format("legacy_xception.tf_in1k"),
                     "Apache-2.0 (timm); ImageNet terms of use", 299, math.floor(299 / 0.8975),
                     "bicubic", 78.892, 22855952, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                     origin="https://github.com/rwightman/pytorch-image-models/releases/"
                            "download/v0.1-cadene/xception-43020ad28.pth",
                     options=(("padding", "torch"),)))
    add(WeightRecord("resnet50v2", "timm/a1h_in1k", "timm", HUB.format("resnetv2_50.a1h_in1k"),
                     "Apache-2.0 (timm); ImageNet terms of use", 224, math.floor(224 / 0.95),
                     "bicubic", None, 25549352, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                     options=(("stride_at_end", False), ("padding", "torch"))))
    return table


CATALOGUE: dict[str, dict[str, WeightRecord]] = _build()
"""Registered model name -> tag -> :class:`WeightRecord`."""


def records(model_name) -> dict[str, WeightRecord]:
    """The published weights of a registered model, by tag (empty if none)."""
    return dict(CATALOGUE.get(model_name, {}))


def all_records() -> list[WeightRecord]:
    """Every record, model by model (what the docs' weights table lists)."""
    return [record for tags in CATALOGUE.values() for record in tags.values()]


def is_tag(weights) -> bool:
    """Whether ``weights`` reads as a catalogue tag (``"timm/a1_in1k"``), not a path."""
    return isinstance(weights, str) and any(weights in tags for tags in CATALOGUE.values())
