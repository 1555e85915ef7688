"""Put an "Open in Colab" badge and a Colab install cell in every notebook of the course.

``GITHUB_REPO`` below is the one place where the course's GitHub path is written: the
badges of the notebooks, the Colab links of README.md and the install cell all come from
it. When the repository moves, change it and run this script.

In each notebook of notebooks/ and solutions/ the script makes sure that

* the first Markdown cell carries the badge (under its title), linking to that notebook on
  Colab;
* the first code cell is the install cell: on Colab it clones the course and installs
  course_lib (Colab already has PyTorch, torchvision, matplotlib and ipywidgets); anywhere
  else it does nothing, so the same notebook runs unchanged locally;

and rewrites every Colab link of README.md to ``GITHUB_REPO`` and ``BRANCH``. exercises/ is
written from solutions/ by make_exercises.py, which points the badge at the exercise.

    python tools/colab.py           # update the notebooks and README.md
    python tools/colab.py --check   # write nothing; exit 1 if something is out of date
    python tools/make_exercises.py  # then regenerate exercises/
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GITHUB_REPO = "OWNER/generative-course"  # owner/name on GitHub: set it when the course is public
BRANCH = "main"
FOLDERS = ("notebooks", "solutions")

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_LINE = re.compile(r"^\[!\[Open in Colab\]\([^)]*\)\]\([^)]*\)\s*$", re.IGNORECASE)
COLAB_LINK = re.compile(
    r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/"
)
INSTALL_CELL_ID = "colab-install"
INSTALL_SOURCE = """\
# On Google Colab this cell fetches the course and installs course_lib.
# Anywhere else it does nothing, so the notebook runs unchanged on your own machine.
import sys

if "google.colab" in sys.modules:
    import importlib
    import os
    import subprocess

    REPO, BRANCH, FOLDER = "@REPO@", "@BRANCH@", "./generative-course"
    if not os.path.isdir(FOLDER):
        git = ["git", "clone", "--depth=1", f"--branch={BRANCH}"]
        subprocess.run([*git, f"https://github.com/{REPO}.git", FOLDER], check=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
        subprocess.run([*pip, FOLDER], check=True)
        importlib.invalidate_caches()""".replace("@REPO@", GITHUB_REPO).replace("@BRANCH@", BRANCH)


def colab_url(path: str) -> str:
    """The Colab address of ``path``, relative to the repository root (notebooks/01_vae.ipynb)."""
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{BRANCH}/{path}"


def badge(path: str) -> str:
    """The Markdown of the badge that opens ``path`` on Colab."""
    return f"[![Open in Colab]({BADGE_IMAGE})]({colab_url(path)})"


def _lines(source: str) -> list[str]:
    """A cell's source as nbformat stores it: lines that keep their newline, the last without."""
    return source.splitlines(keepends=True)


def _text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def with_colab(nb: dict, path: str) -> dict:
    """A copy of notebook ``nb`` (at ``path`` in the repository) with its badge and install cell."""
    nb = json.loads(json.dumps(nb))
    cells = nb["cells"]
    markdown = next((c for c in cells if c["cell_type"] == "markdown"), None)
    if markdown is None:
        markdown = {"cell_type": "markdown", "id": "colab-badge", "metadata": {}, "source": []}
        cells.insert(0, markdown)
    lines = [line for line in _text(markdown).split("\n") if not BADGE_LINE.match(line)]
    title = lines[:1] if lines and lines[0].startswith("#") else []
    rest = lines[len(title) :]
    while rest and not rest[0].strip():
        rest.pop(0)
    lines = [*title, *([""] if title else []), badge(path), "", *rest]  # the badge under the title
    markdown["source"] = _lines("\n".join(lines).strip("\n"))

    cells[:] = [c for c in cells if c.get("id") != INSTALL_CELL_ID]
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    install = {
        "cell_type": "code",
        "execution_count": None,
        "id": INSTALL_CELL_ID,
        "metadata": {},
        "outputs": [],
        "source": _lines(INSTALL_SOURCE),
    }
    cells.insert(first_code, install)
    return nb


def render(nb: dict) -> str:
    """The notebook as the course writes it (as make_exercises.py does)."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def readme_with_links(text: str) -> str:
    """README text with every Colab link pointing at ``GITHUB_REPO`` and ``BRANCH``."""
    prefix = colab_url("")
    return COLAB_LINK.sub(lambda _: prefix, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail if stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder")
    args = parser.parse_args(argv)
    stale = []
    targets = [p for folder in FOLDERS for p in sorted((args.root / folder).glob("*.ipynb"))]
    for target in targets:
        relative = target.relative_to(args.root).as_posix()
        old = target.read_text()
        new = render(with_colab(json.loads(old), relative))
        if new != old:
            stale.append(relative)
            if not args.check:
                target.write_text(new)
    readme = args.root / "README.md"
    if readme.exists():
        old = readme.read_text()
        new = readme_with_links(old)
        if new != old:
            stale.append("README.md")
            if not args.check:
                readme.write_text(new)
    if args.check and stale:
        print(
            "Colab badge, install cell or links out of date in: " + ", ".join(stale) + ".\n"
            "Run `python tools/colab.py`, then `python tools/make_exercises.py`.",
            file=sys.stderr,
        )
        return 1
    for relative in [] if args.check else stale:
        print(f"updated {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
