"""The "Open in Colab" badges and the install cell (tools/colab.py)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import colab  # noqa: E402

NOTEBOOKS = sorted(
    p for folder in ("notebooks", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb")
)

# Runs the install cell in a fresh interpreter with subprocess.run and os.system recorded
# rather than run, and prints what it did as JSON. FAKE_COLAB=1 pretends to be on Colab.
HARNESS = """
import json, os, subprocess, sys, types
calls = []
subprocess.run = lambda *a, **k: calls.append(list(a[0]))
os.system = lambda command: calls.append(command)
if os.environ.get("FAKE_COLAB"):
    sys.modules["google"] = types.ModuleType("google")
    sys.modules["google.colab"] = types.ModuleType("google.colab")
before_path, before_modules = list(sys.path), set(sys.modules)
exec(compile(sys.stdin.read(), "install-cell", "exec"), {"__name__": "__main__"})
new_modules = sorted(m for m in set(sys.modules) - before_modules if not m.startswith("_"))
print(json.dumps({"calls": calls, "path_changed": sys.path != before_path,
                  "new_modules": new_modules}))
"""


def run_install_cell(tmp_path: Path, on_colab: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "FAKE_COLAB"}
    if on_colab:
        env["FAKE_COLAB"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", HARNESS],
        input=colab.INSTALL_SOURCE,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def install_cell_of(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == "code")


def test_every_notebook_opens_on_colab_and_first_installs_the_course():
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        relative = path.relative_to(ROOT).as_posix()
        nb = json.loads(path.read_text())
        first_markdown = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        assert colab.badge(relative) in "".join(first_markdown["source"]), relative
        install = install_cell_of(nb)
        assert install["id"] == colab.INSTALL_CELL_ID, f"{relative}: install cell is not first"
        source = install["source"]
        assert ("".join(source) if isinstance(source, list) else source) == colab.INSTALL_SOURCE


def test_notebooks_and_readme_are_in_step_with_the_colab_tool():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "colab.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_install_cell_does_nothing_outside_colab(tmp_path):
    did = run_install_cell(tmp_path, on_colab=False)
    assert did == {"calls": [], "path_changed": False, "new_modules": []}
    assert list(tmp_path.iterdir()) == []  # no clone, no file


def test_on_colab_the_install_cell_clones_the_course_and_installs_it(tmp_path):
    calls = run_install_cell(tmp_path, on_colab=True)["calls"]
    assert len(calls) == 2, calls
    clone, install = calls
    assert clone[:2] == ["git", "clone"]
    assert f"https://github.com/{colab.GITHUB_REPO}.git" in clone
    assert f"--branch={colab.BRANCH}" in clone
    assert install[1:4] == ["-m", "pip", "install"] and install[-1] == clone[-1]
    assert "--no-deps" in install  # Colab's own torch stays


def test_the_badge_is_placed_once_under_the_title_and_the_tool_is_idempotent():
    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "a",
                "metadata": {},
                "source": ["# Title\n", "\n", "Text"],
            },
            {"cell_type": "code", "id": "b", "metadata": {}, "outputs": [], "source": "x = 1"},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    once = colab.with_colab(nb, "notebooks/99_x.ipynb")
    assert "".join(once["cells"][0]["source"]) == (
        f"# Title\n\n{colab.badge('notebooks/99_x.ipynb')}\n\nText"
    )
    assert [c["id"] for c in once["cells"]] == ["a", colab.INSTALL_CELL_ID, "b"]
    assert colab.with_colab(once, "notebooks/99_x.ipynb") == once
    moved = colab.with_colab(once, "solutions/99_x.ipynb")  # a new path replaces the old badge
    assert "".join(moved["cells"][0]["source"]).count("colab-badge.svg") == 1


def test_readme_colab_links_use_the_repository_constant_and_exist():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", readme)
    assert links, "README.md has no Open in Colab link"
    prefix = colab.colab_url("")
    for link in links:
        assert link.startswith(prefix), link
        assert (ROOT / link.removeprefix(prefix)).is_file(), link
