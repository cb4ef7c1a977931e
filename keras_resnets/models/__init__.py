"""One module per family; each registers its names (:mod:`keras_resnets.families`) and
turns its arguments into a spec, built by :func:`keras_resnets.builder.build_model`.
Importing this package registers every family; each module's ``__all__`` lists the
builders that ``keras_resnets`` exports."""

from keras_resnets.models import (
    cliquenet,
    deeplab,
    densenet,
    inception_v3,
    mobilenet_v2,
    resnet,
    resnext,
    wide_resnet,
    xception,
)

FAMILY_MODULES = (cliquenet, deeplab, densenet, inception_v3, mobilenet_v2, resnet, resnext,
                  wide_resnet, xception)
