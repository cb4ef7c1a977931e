"""Exact published figures (the papers' tables, keras.applications, torchvision), from the
analytic counter alone."""

import pytest

import keras_resnets as kr

# name, kwargs, trainable, total (None: not published)
PUBLISHED_COUNTS = [
    ("resnet50", {}, 25_583_592, 25_636_712),
    ("resnet101", {}, None, 44_707_176),
    ("resnet50v2", {}, None, 25_613_800),
    ("resnet18", {}, 11_689_512, None),
    ("resnet34", {}, 21_797_672, None),
    ("resnext50-32x4d", {}, 25_028_904, None),
    ("resnet50", {"version": 1.5}, 25_557_032, None),
    ("resnet20", {}, 269_722, None),
    ("resnet56", {}, 853_018, None),
    ("resnet110", {}, 1_727_962, None),
    ("resnet20", {"shortcut": "B"}, 272_474, None),
    ("wrn-16-4", {}, 2_748_890, None),
    ("wrn-28-10", {}, 36_479_194, None),
    ("wrn-28-10", {"classes": 100}, 36_536_884, None),
    ("resnext29-16x64d", {}, 68_155_210, None),
]


@pytest.mark.parametrize("name,kwargs,trainable,total", PUBLISHED_COUNTS)
def test_published_parameter_counts(name, kwargs, trainable, total):
    counted = kr.count_params(name, **kwargs)
    if trainable is not None:
        assert counted.trainable == trainable
    if total is not None:
        assert counted.total == total


PUBLISHED_MACS = [
    ("resnet18", {}, 1.814e9),
    ("resnet34", {}, 3.664e9),
    ("resnext50-32x4d", {}, 4.23e9),
    ("resnet50", {"version": 1.5}, 4.089e9),
    ("resnet50", {}, 3.858e9),
    ("wrn-28-10", {}, 5.247e9),
    ("resnext29-16x64d", {}, 10.71e9),
]


@pytest.mark.parametrize("name,kwargs,macs", PUBLISHED_MACS)
def test_published_macs_within_one_percent(name, kwargs, macs):
    assert kr.count_macs(name, **kwargs) == pytest.approx(macs, rel=0.01)


def cifar_resnet_conv_macs(n):
    """Conv and dense multiply-adds of a CIFAR ResNet-(6n+2), written out by hand."""
    total = 32 * 32 * 3 * 9 * 16  # stem
    for size, c_in, c_out in ((32, 16, 16), (16, 16, 32), (8, 32, 64)):
        total += size * size * 9 * c_in * c_out  # first conv of the stage
        total += (2 * n - 1) * size * size * 9 * c_out * c_out
    return total + 64 * 10


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_cifar_resnet_macs_match_the_hand_derivation(depth):
    # 41.3 M (ResNet-20) and 255.7 M (ResNet-110) circulate; counting only conv and dense
    # multiply-adds, as docs/counting.md defines MACs, gives 40.55 M and 252.9 M.
    # Those two published figures must include other operations (docs/counting.md).
    assert kr.count_macs(f"resnet{depth}") == cifar_resnet_conv_macs((depth - 2) // 6)
    assert cifar_resnet_conv_macs(3) == 40_551_040


def wide_resnet_params(depth, k, kernels=(3, 3), deepening=2, classes=10):
    """Trainable parameters of WRN-depth-k, from the paper's description alone."""
    n = (depth - 4) // (3 * deepening)
    total, c_in = 3 * 9 * 16, 16
    for c_out in (16 * k, 32 * k, 64 * k):
        for _ in range(n):
            channels = c_in
            for kernel in kernels:
                total += 2 * channels + kernel * kernel * channels * c_out  # BN, conv
                channels = c_out
            total += c_in * c_out if c_in != c_out else 0  # 1x1 projection
            c_in = c_out
    return total + 2 * c_in + c_in * classes + classes


@pytest.mark.parametrize("block_type,kernels,depth", [
    ("B(3,3)", (3, 3), 40), ("B(3,1,3)", (3, 1, 3), 22), ("B(1,3,1)", (1, 3, 1), 40),
    ("B(1,3)", (1, 3), 40), ("B(3,1)", (3, 1), 40), ("B(3,1,1)", (3, 1, 1), 40)])
def test_wide_resnet_block_types(block_type, kernels, depth):
    counted = kr.count_params(f"wrn-{depth}-2", block_type=block_type).trainable
    assert counted == wide_resnet_params(depth, 2, kernels)


@pytest.mark.parametrize("deepening", [1, 2, 3, 4])
def test_wide_resnet_deepening(deepening):
    counted = kr.count_params("wrn-40-2", deepening=deepening).trainable
    assert counted == wide_resnet_params(40, 2, (3,) * deepening, deepening)
    # Table 3 of the paper: WRN-40-2 keeps about 2.2M parameters for every l.
    assert round(counted / 1e6, 1) in (2.2, 2.3)


def test_wide_resnet_paper_table_sizes():
    # Zagoruyko & Komodakis, Table 1 (WRN-n-2): parameters in millions, as printed.
    for depth, block_type, millions in [(40, "B(1,3,1)", 1.4), (40, "B(3,1)", 1.2),
                                        (40, "B(1,3)", 1.3), (40, "B(3,1,1)", 1.3),
                                        (28, "B(3,3)", 1.5), (22, "B(3,1,3)", 1.1)]:
        counted = kr.count_params(f"wrn-{depth}-2", block_type=block_type).trainable
        assert round(counted / 1e6, 1) == millions


def test_keras_applications_totals():
    # keras.applications model summaries (total parameters, 1000 classes).
    assert kr.count_params("resnet152").total == 60_419_944
    assert kr.count_params("resnet101v2").total == 44_675_560
    assert kr.count_params("resnet152v2").total == 60_380_648


def test_torchvision_totals():
    # torchvision's published parameter counts (no BN statistics: trainable).
    assert kr.count_params("wide-resnet50-2").trainable == 68_883_240
    assert kr.count_params("wide-resnet101-2").trainable == 126_886_696
    assert kr.count_params("resnext101-32x8d").trainable == 88_791_336
