"""preprocessing(weights): the evaluation transforms as Keras layers, checked on images
whose expected crops are worked out by hand, in tf.data and inside a model. (Against
torchvision's own transforms: test_weights_transforms_torch.py.)"""

import keras
import numpy as np
import pytest
from keras.applications import imagenet_utils

import keras_resnets as kr
from keras_resnets.weights import catalogue, transforms


def test_every_record_states_its_transform():
    for record in catalogue.all_records():
        t = record.transform
        assert t.crop == record.input_size <= t.resize and t.antialias
    assert catalogue.records("resnet50-v1.5")["torchvision/imagenet1k_v2"].transform == \
        catalogue.Transform(resize=232, crop=224, interpolation="bilinear")
    assert catalogue.records("xception")["timm/tf_in1k"].transform == catalogue.Transform(
        resize=333, crop=299, interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3)


@pytest.mark.backend_agnostic
def test_centre_crop_rounds_offsets_as_torchvision():
    """An 8x11 image, resized to a shorter side of 8 (unchanged), cropped to 4: rows from
    round(4 / 2) = 2, columns from round(7 / 2) = 4 (half to even; Keras's CenterCrop: 3)."""
    image = np.arange(8 * 11 * 3, dtype="float32").reshape(8, 11, 3)
    layers = transforms.transform_layers(catalogue.Transform(
        resize=8, crop=4, interpolation="bilinear", scale=1.0, mean=(0, 0, 0), std=(1, 1, 1)))
    np.testing.assert_allclose(np.asarray(layers(image)), image[2:6, 4:8], atol=1e-4)
    assert layers.layers[0].compute_output_shape((8, 11, 3)) == (None, None, 3)


@pytest.mark.backend_agnostic
def test_keras_modes_match_keras_applications():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (256, 256, 3)).astype("float32")  # 256: no resize
    crop = image[None, 16:240, 16:240]  # the central 224 x 224
    for model, mode in (("resnet50", "caffe"), ("densenet121", "torch"), ("resnet50v2", "tf")):
        ours = np.asarray(kr.preprocessing("imagenet", model)(image[None]))
        reference = imagenet_utils.preprocess_input(crop.copy(), mode=mode)
        np.testing.assert_allclose(ours, reference, atol=2e-4)


def test_in_tf_data_and_inside_a_model_on_any_size():
    import tensorflow as tf

    prepare = kr.preprocessing("torchvision/imagenet1k_v2")
    images = [np.random.default_rng(i).uniform(0, 255, shape).astype("float32")
              for i, shape in enumerate([(240, 300, 3), (320, 250, 3)])]
    eager = [np.asarray(prepare(image)) for image in images]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec((None, None, 3), tf.float32))
    for got, want in zip(dataset.map(prepare), eager, strict=True):
        assert got.shape == (224, 224, 3)
        np.testing.assert_array_equal(got.numpy(), want)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(prepare(inputs)))
    for image, want in zip(images, eager, strict=True):
        np.testing.assert_allclose(model.predict(image[None], verbose=0)[0],
                                   want.mean(axis=(0, 1)), atol=1e-5)


def test_refusals():
    with pytest.raises(ValueError, match=r"evaluated differently for different models .*pass "
                                         r"model_name, e.g. preprocessing\('imagenet'"):
        kr.preprocessing("imagenet")
    with pytest.raises(ValueError, match="'timm/a1_in1k' are not a catalogue tag for model "
                                         "'densenet121'"):
        kr.preprocessing("timm/a1_in1k", "densenet121")
