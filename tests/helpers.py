"""Small helpers shared by the test modules."""

import numpy as np


def random_weights(model, seed=0):
    """Give every weight of ``model`` random values (BatchNorm variances positive), set
    them on the model and return them, so another model can receive the same values."""
    rng = np.random.default_rng(seed)
    values = []
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            values.append(rng.normal(0.0, 0.1, shape).astype("float32"))
    model.set_weights(values)
    return values


def prepare_fake_cifar10(data_dir, per_file=12, seed=0):
    """Prepare a tiny CIFAR-10 in ``data_dir`` with tensorflow-datasets' own Cifar10
    builder, from fake files in the original binary format (only the download is
    replaced): 5 x ``per_file`` training and ``per_file`` test images, labels
    ``index % 10``. Returns ``{split: (images, labels)}`` as written."""
    import os
    from unittest import mock

    import tensorflow_datasets as tfds

    rng = np.random.default_rng(seed)
    source = os.path.join(data_dir, "fake-download")
    batches = os.path.join(source, "cifar-10-batches-bin")
    os.makedirs(batches)
    written = {"train": ([], []), "test": ([], [])}
    files = [(f"data_batch_{i}.bin", "train") for i in range(1, 6)] + [("test_batch.bin", "test")]
    for name, split in files:
        labels = np.arange(per_file, dtype=np.uint8) % 10
        images = rng.integers(0, 256, (per_file, 32, 32, 3), dtype=np.uint8)
        records = np.concatenate([labels[:, None],
                                  images.transpose(0, 3, 1, 2).reshape(per_file, -1)], axis=1)
        records.astype(np.uint8).tofile(os.path.join(batches, name))
        written[split][0].append(images)
        written[split][1].append(labels.astype("int64"))
    with open(os.path.join(batches, "batches.meta.txt"), "w") as f:
        f.write("\n".join(f"class{i}" for i in range(10)) + "\n")
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract",
                           return_value=source):
        tfds.builder("cifar10", data_dir=data_dir).download_and_prepare()
    return {k: (np.concatenate(x), np.concatenate(y)) for k, (x, y) in written.items()}


EXPORT_FAMILY_CASES = [
    # (registered name that marks the family present, small model to build, kwargs, heavy):
    # test_export converts each to float32 and int8 TFLite files; the contract test
    # converts the kinds of network these leave out.
    ("resnet20", "resnet20", dict(input_shape=(32, 32, 3)), False),
    ("wrn-16-4", "wrn-10-1", dict(input_shape=(32, 32, 3)), False),
    ("resnet18", "resnet18", dict(input_shape=(64, 64, 3), classes=10), False),
    ("resnext29-8x64d", "resnext11-4x4d", dict(input_shape=(32, 32, 3)), False),
    ("preact-resnet164", "preact-resnet11", dict(input_shape=(32, 32, 3)), False),
    ("densenet-bc-100-12", "densenet-bc-40-12", dict(input_shape=(32, 32, 3)), False),
    ("cliquenet-12-36", "cliquenet-6-12", dict(input_shape=(32, 32, 3)), False),
    ("mobilenetv2-1.0", "mobilenetv2-0.35", dict(input_shape=(32, 32, 3), classes=10), False),
    ("xception", "xception", dict(input_shape=(75, 75, 3), classes=10), True),
    ("inceptionv3", "inceptionv3", dict(input_shape=(75, 75, 3), classes=10), True),
    ("deeplabv3-resnet50", "deeplabv3-resnet18", dict(input_shape=(64, 64, 3), classes=4), True),
]


def tensorboard_scalars(log_dir):
    """``{tag: [(step, value), ...]}`` of the scalar summaries under ``log_dir``, read with
    TensorBoard's own reader (TF2 writes scalars as tensor events)."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]
            for tag in events.Tags()["tensors"]}
