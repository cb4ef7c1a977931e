"""mkdocs hooks: parts of pages that are read from the code and the results at build time.

``<!-- cli-reference -->`` in a page becomes the ``--help`` text of every
``keras-resnets`` sub-command, read from the argparse parsers themselves, and
``<!-- benchmark-results -->`` becomes the tables the scripts in ``benchmarks/`` wrote
to ``benchmarks/results/*.md`` (each starts with the machine it was measured on).
Neither can go stale: there is no copy to forget to update.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CLI_MARKER = "<!-- cli-reference -->"
BENCHMARK_MARKER = "<!-- benchmark-results -->"
HELP_WIDTH = "96"


def cli_reference() -> str:
    """The ``--help`` text of ``keras-resnets`` and each sub-command, as Markdown."""
    from keras_resnets.cli import build_parser, import_tensorflow_quietly

    import_tensorflow_quietly()  # the train and export parsers read TensorFlow-side choices
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps at the terminal width
    try:
        parser = build_parser()
        parts = [f"### `keras-resnets`\n\n```text\n{parser.format_help()}```\n"]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    parts.append(f"### `keras-resnets {name}`\n\n```text\n{sub.format_help()}```\n")
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(parts)


def benchmark_results() -> str:
    """Every ``benchmarks/results/*.md`` table under a heading named after its file."""
    files = sorted(RESULTS.glob("*.md")) if RESULTS.is_dir() else []
    if not files:
        return ('!!! note "No results in this checkout"\n'
                "    No benchmark has written `benchmarks/results/*.md` here yet. Run the "
                "scripts below; their tables appear on this page at the next build.\n")
    parts = []
    for path in files:
        text = path.read_text().strip()
        parts.append(f"### {path.stem}\n\nFrom `benchmarks/results/{path.name}`.\n\n{text}\n")
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if BENCHMARK_MARKER in markdown:
        markdown = markdown.replace(BENCHMARK_MARKER, benchmark_results())
    return markdown
