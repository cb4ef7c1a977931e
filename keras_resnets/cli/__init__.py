"""The ``keras-resnets`` command line.

``COMMANDS`` names each sub-command, the module of this package that adds its parser
(``add_parser(subparsers, name, summary)``) and runs it, and its one-line summary.
Only the sub-command being run gets its full parser, and the modules import
TensorFlow inside their commands only: ``--help``, ``list`` and ``info`` start in a
fraction of a second without TensorFlow or Keras.

Example::

    keras-resnets list 'wrn-*'
    keras-resnets info wrn-28-10
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
import tempfile
import textwrap

from keras_resnets import __version__

COMMANDS = {
    "list": ("models", "list the registered model names"),
    "info": ("models", "parameters, MACs, layers and published errors of one model"),
    "train": ("train", "train a model with a paper recipe into a run directory"),
    "tune": ("tune", "search depth and width at a parameter, MAC or latency budget (Keras "
                     "Tuner)"),
    "export": ("export", "write a SavedModel or a verified TFLite file"),
    "demo": ("demo", "train a small Wide ResNet on the offline digits set, then export it"),
}
# The commands that run on plain Python; the others import TensorFlow, quietly unless --verbose.
PLAIN_PYTHON = ("list", "info")
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE, as `seq 100 | head -1` ends its writer


def _option_added(action, options):
    """Record ``action`` in ``options`` and end its help with its default, for an option
    that takes a value, unless the help already states it."""
    options.append(action)
    text = action.help or ""
    if not (action.nargs == 0 or action.required or "default" in text
            or action.default in (None, argparse.SUPPRESS)):
        action.help = f"{text} (default: %(default)s)"
    return action


class _OptionGroup:
    """An argument group (or mutually exclusive group) of a :class:`CommandParser` that
    records the options added to it."""

    def __init__(self, group, options):
        self.group, self.options = group, options

    def add_argument(self, *args, **kwargs):
        return _option_added(self.group.add_argument(*args, **kwargs), self.options)

    def add_mutually_exclusive_group(self, **kwargs):
        return _OptionGroup(self.group.add_mutually_exclusive_group(**kwargs), self.options)


class CommandParser(argparse.ArgumentParser):
    """A command's parser: keeps the line breaks of descriptions and examples, states
    each option's default in its help, and lists its options (``options``: the actions
    that ``add_argument`` returned, groups' included) so that errors can be put in its
    words."""

    def __init__(self, *args, **kwargs):
        self.options = None  # argparse makes its own groups first
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.options = []

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        return action if self.options is None else _option_added(action, self.options)

    def add_argument_group(self, *args, **kwargs):
        group = super().add_argument_group(*args, **kwargs)
        return group if self.options is None else _OptionGroup(group, self.options)

    def add_mutually_exclusive_group(self, **kwargs):
        return _OptionGroup(super().add_mutually_exclusive_group(**kwargs), self.options)


def command_parser(subparsers, name, summary, description, examples):
    """The parser of sub-command ``name``: its summary, description and examples, and for
    a command that imports TensorFlow a ``--verbose`` flag that shows its log lines."""
    example_lines = "\n".join(f"  {line}" for line in examples)
    parser = subparsers.add_parser(name, help=summary, description=textwrap.fill(description, 79),
                                   epilog=f"examples:\n{example_lines}")
    if name not in PLAIN_PYTHON:
        parser.add_argument("--verbose", action="store_true",
                            help="show TensorFlow's C++ and absl log lines (hidden by default)")
    parser.set_defaults(command_parser=parser)
    return parser


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The ``keras-resnets`` parser, with the full parsers of ``commands`` (default: all);
    the other sub-commands are listed with their summaries only."""
    parser = CommandParser(
        prog="keras-resnets",
        description="Residual-family CNNs for Keras 3: list, count, train, tune and export.",
        epilog="examples:\n  keras-resnets list 'wrn-*'\n  keras-resnets info wrn-28-10\n"
               "  keras-resnets train wrn-10-2 --epochs 2\n"
               "  keras-resnets COMMAND --help     # the options of one command")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       parser_class=CommandParser)
    for name, (module, summary) in COMMANDS.items():
        if commands is None or name in commands:
            importlib.import_module(f"{__name__}.{module}").add_parser(subparsers, name, summary)
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def import_tensorflow_quietly():
    """Import TensorFlow and Keras without their log lines: TensorFlow's C++ code writes
    some through absl before any threshold applies, so standard error (descriptor 2) points
    at ``/dev/null`` during the import; later C++ lines (such as a failed CUDA probe on a
    CPU-only machine) are hidden by ``TF_CPP_MIN_LOG_LEVEL=3`` (unless already set) and
    Python ones by the log levels. Python exceptions still show."""
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


# Status lines that native code writes straight to descriptor 2, past every log level: the
# TFLite converter's quantizer summary and LiteRT's delegate notice.
NATIVE_NOISE = re.compile(r"(fully_quantize: \d|INFO: Created TensorFlow Lite .*delegate)")


@contextlib.contextmanager
def native_noise_filtered(enabled=True):
    """Standard error (descriptor 2) goes to a temporary file while the block runs, and is
    then written out less the lines :data:`NATIVE_NOISE` matches (``enabled=False``, as
    for ``--verbose``: unchanged). Python's own messages and tracebacks still show."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not NATIVE_NOISE.match(line)))
            sys.stderr.flush()


def _raised_by_keras_resnets(error) -> bool:
    """Whether ``error`` was raised by a statement of this package (a check's message
    meant for the user), not inside Keras, TensorFlow or another dependency."""
    traceback = error.__traceback__
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return os.path.abspath(traceback.tb_frame.f_code.co_filename).startswith(PACKAGE_DIR)


PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in argv if not word.startswith("-")), None)
    if command in COMMANDS and command not in PLAIN_PYTHON and "--verbose" not in argv:
        import_tensorflow_quietly()
    parser = build_parser({command})
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `keras-resnets list | head -1`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return BROKEN_PIPE_EXIT
    except ValueError as error:
        if not _raised_by_keras_resnets(error):
            raise  # a dependency's error or a bug: shown with its traceback
        from keras_resnets.cli.words import command_line_words

        message = command_line_words(str(error), args.command_parser)
        print(f"keras-resnets {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
