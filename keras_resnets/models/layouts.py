"""Published stage layouts shared by the ResNet, Wide ResNet and ResNeXt builders.

Example::

    IMAGENET_BLOCKS[50]       # (3, 4, 6, 3): blocks per stage of ResNet-50
"""

IMAGENET_BLOCKS = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}
"""Blocks per stage of the ImageNet ResNets (He et al. 2015, Table 1; 200: He et al. 2016)."""
IMAGENET_WIDTHS = (64, 128, 256, 512)
"""Channels of the four ImageNet stages (a bottleneck's inner width)."""
IMAGENET_STRIDES = (1, 2, 2, 2)
"""Stage strides after the stem's 1/4."""
