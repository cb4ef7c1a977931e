"""Small offline datasets for the example notebooks (numpy only, no download).

``shapes`` makes a segmentation set: each image holds one to ``max_shapes`` filled
circles, squares and triangles of random size, position and colour on a noisy
background, and its mask gives every pixel's class (0 background, 1 circle,
2 square, 3 triangle). Shapes do not overlap unless ``overlap=True`` (then a shape drawn
later covers an earlier one). Colours say nothing about the class, so a model must learn
the outlines. ``seed`` may be an int or a sequence of ints (e.g. ``(seed, epoch, batch)``
for fresh images at every step).

``digits_subset`` picks classes and a few labelled examples per class from arrays,
for the transfer-learning notebook (pretrain on digits 0-4, fine-tune on 5-9).

Example::

    images, masks = shapes(512, size=64, seed=0)     # uint8 (512, 64, 64, 3), (512, 64, 64)
    x, y = digits_subset(x_train, y_train, classes=range(5, 10), per_class=10, seed=0)
"""

from __future__ import annotations

import numpy as np

SHAPE_CLASSES = ("background", "circle", "square", "triangle")


def _shape_mask(kind, size, cx, cy, radius, angle):
    """A boolean (size, size) mask of one shape centred at (cx, cy)."""
    yy, xx = np.mgrid[0:size, 0:size].astype("float32") + 0.5
    if kind == 1:  # circle
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2
    if kind == 2:  # axis-aligned square of half-side radius * 0.85
        half = radius * 0.85
        return (np.abs(xx - cx) <= half) & (np.abs(yy - cy) <= half)
    # triangle: equilateral, inscribed in the circle of ``radius``, rotated by ``angle``
    corners = [(cx + radius * np.cos(angle + k * 2 * np.pi / 3),
                cy + radius * np.sin(angle + k * 2 * np.pi / 3)) for k in range(3)]
    inside = np.ones((size, size), bool)
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1]):
        inside &= (x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0) >= 0
    return inside


def shapes(count, *, size=64, max_shapes=3, min_radius=None, max_radius=None, overlap=False,
           seed=0):
    """``count`` images with their masks: uint8 ``(count, size, size, 3)`` and
    ``(count, size, size)`` (class ids, see ``SHAPE_CLASSES``). Radii (of the circle
    around each shape) default to ``size / 6`` .. ``size / 3.5``. Deterministic in ``seed``."""
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an int >= 1 (e.g. 512); got {count!r}")
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an int >= 16 (e.g. 64); got {size!r}")
    if not isinstance(max_shapes, int) or max_shapes < 1:
        raise ValueError(f"max_shapes must be an int >= 1 (e.g. 3); got {max_shapes!r}")
    min_radius = min_radius or size / 6
    max_radius = max_radius or size / 3.5
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), "uint8")
    masks = np.zeros((count, size, size), "uint8")
    for i in range(count):
        background = rng.uniform(0, 255, 3)
        image = background + rng.normal(0, 12, (size, size, 3))
        placed = []
        for _ in range(rng.integers(1, max_shapes + 1)):
            kind = int(rng.integers(1, 4))
            for _attempt in range(20):  # a free place, at least 2 pixels from the others
                radius = rng.uniform(min_radius, max_radius)
                cx, cy = rng.uniform(radius, size - radius, 2)
                if overlap or all(np.hypot(cx - x, cy - y) >= radius + r + 2
                                  for x, y, r in placed):
                    break
            else:
                continue
            placed.append((cx, cy, radius))
            inside = _shape_mask(kind, size, cx, cy, radius, rng.uniform(0, 2 * np.pi))
            colour = rng.uniform(0, 255, 3)
            while np.abs(colour - background).max() < 60:  # visible against the background
                colour = rng.uniform(0, 255, 3)
            image[inside] = colour + rng.normal(0, 12, (int(inside.sum()), 3))
            masks[i][inside] = kind
        images[i] = np.clip(image, 0, 255).astype("uint8")
    return images, masks


def digits_subset(images, labels, *, classes, per_class=None, seed=0):
    """The examples of ``classes``, relabelled 0..len(classes)-1; with ``per_class``, that
    many of each class drawn at random (a few-label training set)."""
    classes = list(classes)
    rng = np.random.default_rng(seed)
    keep = []
    for cls in classes:
        index = np.flatnonzero(labels == cls)
        if per_class is not None:
            if len(index) < per_class:
                raise ValueError(f"per_class must be at most {len(index)} for class {cls}; "
                                 f"got {per_class}")
            index = rng.choice(index, per_class, replace=False)
        keep.extend(index.tolist())
    keep = np.sort(np.asarray(keep))
    relabel = {cls: new for new, cls in enumerate(classes)}
    return images[keep], np.asarray([relabel[int(y)] for y in labels[keep]], "int64")
