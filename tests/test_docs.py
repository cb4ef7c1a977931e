"""The documentation: the generated model zoo is current, the nav is complete, and
``mkdocs build --strict`` passes (CI installs mkdocs through the dev extra)."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import keras_resnets

ROOT = Path(__file__).resolve().parent.parent


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zoo_table_is_up_to_date():
    gen_docs = _load_script("gen_docs")
    text = gen_docs.zoo_markdown()
    assert gen_docs.ZOO.read_text() == text, \
        "docs/zoo.md is stale: run python scripts/gen_docs.py and commit the result"


def test_zoo_table_lists_every_model_with_its_counts():
    text = (ROOT / "docs" / "zoo.md").read_text()
    for name in keras_resnets.list_models():
        assert f"| `{name}` |" in text
    assert "| `wrn-28-10` | 32x32x3 | 10 | 36,479,194 |" in text
    assert "| `resnet50` | 224x224x3 | 1000 | 25,583,592 | 25,636,712 | 3.858 G |" in text


def test_gen_docs_check_mode():
    assert _load_script("gen_docs").main(["--check"]) == 0


def _nav_pages(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_pages(value)


def test_every_nav_page_exists():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = list(_nav_pages(config["nav"]))
    missing = [page for page in pages if not (ROOT / "docs" / page).is_file()]
    assert not missing, f"pages in the mkdocs nav but not in docs/: {missing}"
    for page in ("zoo.md", "families/residual.md", "counting.md", "api.md", "cli.md",
                 "benchmarks.md", "training.md", "tuning.md", "export.md"):
        assert page in pages


def test_benchmark_hook_shows_only_files_from_benchmarks_results():
    hooks = _load_script("mkdocs_hooks")
    text = hooks.benchmark_results()
    files = sorted(hooks.RESULTS.glob("*.md")) if hooks.RESULTS.is_dir() else []
    if files:
        for path in files:
            assert f"benchmarks/results/{path.name}" in text
    else:
        assert "No results in this checkout" in text


def test_cli_reference_hook_covers_every_command():
    text = _load_script("mkdocs_hooks").cli_reference()
    for command in ("list", "info", "train", "demo", "tune", "export"):
        assert f"usage: keras-resnets {command}" in text


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or \
            importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs and mkdocstrings are not installed (pip install -e '.[dev]')")
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI hook must silence TensorFlow by itself
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    log = result.stdout + result.stderr
    assert not re.search(r"^[IWE]0000|absl::|oneDNN|cpu_feature_guard", log, re.MULTILINE), \
        log[-3000:]
    zoo = (site / "zoo" / "index.html").read_text()
    assert "wrn-28-10" in zoo and '<div class="zoo-table">' in zoo
    assert "white-space: nowrap" in (site / "extra.css").read_text()
    assert "usage: keras-resnets train" in (site / "cli" / "index.html").read_text()
    assert "keras_resnets.registry.create_model" in (site / "api" / "index.html").read_text()


def test_wide_tables_and_long_code_lines_fit_at_1280_px():
    """What ``scripts/docs_overflow.py`` measured in headless Chromium at 1280 px: 104
    tables and code blocks cut off behind a scrollbar before these rules, none after. The
    rules that do it are kept: the contents in the left sidebar, code lines wrapped,
    Material's 5rem minimum column width dropped."""
    css = (ROOT / "docs" / "extra.css").read_text()
    assert "- toc.integrate" in (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"pre > code \{\s*white-space: pre-wrap;", css)
    assert re.search(r"table:not\(\[class\]\) th \{\s*min-width: 0;", css)
