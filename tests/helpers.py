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
