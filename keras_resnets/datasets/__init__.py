"""tensorflow-datasets builders of this package; importing it registers them.

* ``digits`` (:mod:`keras_resnets.datasets.digits`): scikit-learn's handwritten digits,
  prepared locally without a network.

Example::

    import tensorflow_datasets as tfds
    import keras_resnets.datasets  # noqa: F401  (registers "digits")
    tfds.load("digits", split="test", as_supervised=True)
"""

from keras_resnets.datasets.digits import Digits, digits_arrays

__all__ = ["Digits", "digits_arrays"]
