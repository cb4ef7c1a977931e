"""keras_resnets: the residual family of CNNs for Keras 3.

Example::

    import keras_resnets
    model = keras_resnets.WideResNet(28, 10)            # WRN-28-10 of the paper
    model = keras_resnets.create_model("resnet56")
    keras_resnets.count_params("wrn-28-10").trainable   # 36479194, no model built
"""

from keras_resnets import blocks, layers  # noqa: F401
from keras_resnets.engine import build_model
from keras_resnets.models.cliquenet import (
    CliqueNet,
    CliqueNetFromLayout,
    CliqueNetS0,
    CliqueNetS1,
    CliqueNetS2,
    CliqueNetS3,
)
from keras_resnets.models.deeplab import DeepLabV3
from keras_resnets.models.densenet import (
    DenseNet,
    DenseNet121,
    DenseNet161,
    DenseNet169,
    DenseNet201,
    DenseNet264,
)
from keras_resnets.models.inception_v3 import InceptionV3
from keras_resnets.models.mobilenet_v2 import MobileNetV2
from keras_resnets.models.resnet import (
    ResNet,
    ResNet18,
    ResNet18V2,
    ResNet34,
    ResNet34V2,
    ResNet50,
    ResNet50V2,
    ResNet101,
    ResNet101V2,
    ResNet152,
    ResNet152V2,
    ResNet200,
    ResNet200V2,
)
from keras_resnets.models.resnext import ResNeXt, ResNeXt29, ResNeXt50, ResNeXt101
from keras_resnets.models.wide_resnet import WideResNet, WideResNet50_2, WideResNet101_2
from keras_resnets.models.xception import Xception
from keras_resnets.registry import (
    count_macs,
    count_params,
    create_model,
    get_spec,
    list_models,
    model_info,
)
from keras_resnets.saving import load_model

__version__ = "0.1.0"

__all__ = [
    "ResNet", "ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", "ResNet200",
    "ResNet18V2", "ResNet34V2", "ResNet50V2", "ResNet101V2", "ResNet152V2", "ResNet200V2",
    "WideResNet", "WideResNet50_2", "WideResNet101_2",
    "ResNeXt", "ResNeXt29", "ResNeXt50", "ResNeXt101",
    "DenseNet", "DenseNet121", "DenseNet161", "DenseNet169", "DenseNet201", "DenseNet264",
    "CliqueNet", "CliqueNetFromLayout", "CliqueNetS0", "CliqueNetS1", "CliqueNetS2",
    "CliqueNetS3",
    "MobileNetV2", "Xception", "InceptionV3", "DeepLabV3",
    "build_model", "create_model", "list_models", "count_params", "count_macs", "get_spec",
    "model_info", "load_model",
]
