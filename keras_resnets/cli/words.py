"""Error messages in the words of the command line.

The library's errors speak Python (``download=False``, ``mode='iso'``,
``keras_resnets.list_models()``), which is right for a caller of the Python API. The
command line rewrites them with its own flags before printing them.

Example::

    command_line_words("use mode='iso' or pass data_dir=DIR", tune_parser)
    # "use --mode iso or pass --data-dir DIR"
"""

from __future__ import annotations

import re

# Python phrases with no option to map them to, and their command-line form.
PHRASES = (
    ("keras_resnets.list_models()", "`keras-resnets list`"),
    ("list_models()", "`keras-resnets list`"),
    ("list_recipes()", "`keras-resnets train --help`"),
    ("allow download=True", "drop --no-download"),
    ("role='chief' or 'worker'", "--chief or --worker"),
)
_ASSIGNMENT = re.compile(r"(?<![\w.-])([a-z][a-z0-9_]*)=('[^']*'|\"[^\"]*\"|[^\s,;)]+)")
_IDENTIFIER = re.compile(r"(?<![\w.'-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w'(=])")


def counted(count, noun):
    """``counted(1, "epoch") == "1 epoch"``, ``counted(2, "epoch") == "2 epochs"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _flags(parser):
    """``dest -> (flag, action)`` for the options of ``parser`` (a
    :class:`~keras_resnets.cli.CommandParser`)."""
    flags = {}
    for action in parser.options:
        long_flags = [flag for flag in action.option_strings if flag.startswith("--")]
        if long_flags and action.dest not in flags and action.nargs != 0:
            flags[action.dest] = (long_flags[0], action)
        elif long_flags and action.nargs == 0:
            flags.setdefault((action.dest, action.const), (long_flags[0], action))
    return flags


def command_line_words(message: str, parser) -> str:
    """``message`` with Python calls and ``argument=value`` spellings that ``parser`` has
    options for replaced by the flags (``download=False`` -> ``--no-download``)."""
    for python, command_line in PHRASES:
        message = message.replace(python, command_line)
    flags = _flags(parser)

    def assignment(match):
        dest, value = match.group(1), match.group(2).strip("'\"")
        flag = flags.get((dest, {"True": True, "False": False}.get(value, value)))
        if flag:
            return flag[0]
        if dest in flags:
            return f"{flags[dest][0]} {value}"
        return match.group(0)

    message = _ASSIGNMENT.sub(assignment, message)
    message = _IDENTIFIER.sub(lambda m: flags[m.group(1)][0] if m.group(1) in flags
                              else m.group(0), message)
    first = re.match(r"([a-z]+)\b", message)
    if first and first.group(1) in flags:
        message = flags[first.group(1)][0] + message[first.end():]
    return re.sub(r"(--[\w-]+(?: [^\s()]+)?) \(\1\)", r"\1", message)
