"""Run the lecture notebooks headless and write an HTML copy of each, with its outputs.

For a lecturer who wants to publish or print the course: every notebook is executed top to
bottom in a fresh kernel (at the lecture budget unless ``--smoke``), written as HTML with
its figures embedded, and timed; an ``index.html`` links the copies. A notebook that fails
is still written, up to the failing cell and its error, and the script exits with 1; so is
one stopped by Ctrl-C (or SIGINT from ``timeout -s INT``), and then no further notebook runs.

    python tools/run_all.py                          # every notebook of notebooks/ -> build/html/
    python tools/run_all.py 01 03 --out /tmp/html    # chapters 01 and 03
    python tools/run_all.py notebooks/01_vae.ipynb --smoke
    python tools/run_all.py --folder solutions       # the exercise solutions instead
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "html"
INTERRUPTED = "interrupted (Ctrl-C or SIGINT)"


class TimedExecutor(ExecutePreprocessor):
    """Runs a notebook with a progress bar over its code cells."""

    def preprocess(self, nb, resources=None, km=None):
        code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
        with tqdm(total=code_cells, desc=self.desc, unit="cell", leave=False) as self.bar:
            return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        result = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code":
            self.bar.update(1)
        return result


def select(names: list[str], folder: Path) -> list[Path]:
    """The notebooks named by chapter number (``01``), file name or path; all of ``folder``."""
    every = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            chosen.append(path.resolve())
            continue
        matches = [p for p in every if p.name == name or p.name.startswith(f"{name}_")]
        if not matches:
            available = ", ".join(p.name for p in every) or "none"
            raise SystemExit(f"no notebook {name!r} in {folder} (there are: {available})")
        chosen.extend(matches)
    return chosen


def run_notebook(path: Path, out: Path, cell_timeout: int) -> tuple[Path, float, str | None]:
    """Execute ``path`` in its own folder and write ``out/<name>.html``; (html, seconds, error)."""
    nb = nbformat.read(path, as_version=4)
    executor = TimedExecutor(timeout=cell_timeout)
    executor.desc = path.name
    error = None
    start = time.perf_counter()
    try:
        executor.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1]  # the exception line; the HTML has the rest
    except KeyboardInterrupt:
        error = INTERRUPTED  # the cells that ran keep their outputs
    seconds = time.perf_counter() - start
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    target = out / f"{path.stem}.html"
    target.write_text(body, encoding="utf-8")
    return target, seconds, error


def write_index(out: Path, rows: list[tuple[Path, float, str | None]], budget: str) -> Path:
    items = "\n".join(
        f'<li><a href="{html.escape(target.name)}">{html.escape(target.stem)}</a>: '
        f"{seconds:.0f} s{' &mdash; <b>failed</b>: ' + html.escape(error) if error else ''}</li>"
        for target, seconds, error in rows
    )
    index = out / "index.html"
    index.write_text(
        "<!doctype html>\n<meta charset='utf-8'>\n<title>Deep generative models</title>\n"
        f"<h1>Deep generative models, from the VAE to cGML</h1>\n"
        f"<p>Notebooks run at the {budget} budget on {time.strftime('%Y-%m-%d')}.</p>\n"
        f"<ul>\n{items}\n</ul>\n",
        encoding="utf-8",
    )
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="chapter numbers (01), names or paths")
    parser.add_argument("--folder", default="notebooks", help="notebooks, solutions, exercises")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the HTML goes")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets (SMOKE_TEST=1)")
    parser.add_argument(
        "--cell-timeout", type=int, default=3600, help="seconds one cell may take (3600)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        os.environ["SMOKE_TEST"] = "1"  # the kernels inherit it
    smoke = os.environ.get("SMOKE_TEST", "").strip().lower() in {"1", "true", "yes", "on"}
    budget = "smoke" if smoke else "lecture"
    paths = select(args.notebooks, ROOT / args.folder)
    if not paths:
        print(f"no notebooks in {ROOT / args.folder}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"running {len(paths)} notebook(s) at the {budget} budget into {args.out}", flush=True)
    rows = []
    for path in paths:
        target, seconds, error = run_notebook(path, args.out, args.cell_timeout)
        rows.append((target, seconds, error))
        status = f"FAILED: {error}" if error else "ok"
        print(f"{path.name}: {seconds:.1f} s, {status} -> {target}", flush=True)
        if error == INTERRUPTED:
            break
    index = write_index(args.out, rows, budget)
    total = sum(seconds for _, seconds, _ in rows)
    failed = [target.stem for target, _, error in rows if error]
    print(f"total {total:.1f} s for {len(rows)} notebook(s); index: {index}")
    if failed:
        print(f"failed: {', '.join(failed)} (the HTML shows the error)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
