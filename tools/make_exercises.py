"""Write exercises/NN_topic.ipynb from solutions/NN_topic.ipynb.

In every code cell of a solution notebook, the lines between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers) are replaced by
``raise NotImplementedError("Exercise: ...")`` at the same indentation; the markers go.
Outputs are cleared, and an "Open in Colab" link to the solution is pointed at the exercise.
``--check`` writes nothing and exits 1 when an exercise notebook is missing or differs from
what would be written (the drift test runs this).

    python tools/make_exercises.py          # write exercises/
    python tools/make_exercises.py --check  # fail if exercises/ is out of step
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
BLANK = 'raise NotImplementedError("Exercise: replace this line with your code")'
COLAB_SOLUTION = re.compile(
    r"(https://colab\.research\.google\.com/github/\S+?/blob/[^/\s)]+/)solutions/"
)


def blank_source(source: str, where: str) -> str:
    """The source with each solution block replaced by a raise at the block's indentation."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"{where}, line {number}: BEGIN SOLUTION inside another block")
            inside = True
            out.append(begin.group(1) + BLANK)
        elif END.match(line):
            if not inside:
                raise ValueError(f"{where}, line {number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: BEGIN SOLUTION is never closed by END SOLUTION")
    return "\n".join(out)


def exercise_notebook(solution: dict, name: str) -> dict:
    """The exercise version of a solution notebook (a new dict; the input is not changed)."""
    nb = json.loads(json.dumps(solution))
    blanks = 0
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":  # the Colab badge opens the exercise, not its solution
            lines = [cell["source"]] if isinstance(cell["source"], str) else cell["source"]
            lines = [COLAB_SOLUTION.sub(r"\1exercises/", line) for line in lines]
            cell["source"] = "".join(lines) if isinstance(cell["source"], str) else lines
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        new = blank_source(source, f"{name}, cell {index}")
        blanks += new != source
        cell["source"] = new
        cell["outputs"] = []
        cell["execution_count"] = None
    if blanks == 0:
        raise ValueError(f"{name} has no ### BEGIN SOLUTION block: nothing for a student to do")
    return nb


def render(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if exercises/ is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder")
    args = parser.parse_args(argv)
    solutions = sorted((args.root / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if not solutions:
        print(f"no solution notebooks in {args.root / 'solutions'}", file=sys.stderr)
        return 1
    stale = []
    for path in solutions:
        text = render(exercise_notebook(json.loads(path.read_text()), path.name))
        target = args.root / "exercises" / path.name
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(target)
        else:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text)
            print(f"wrote {target.relative_to(args.root)}")
    extra = {p.name for p in (args.root / "exercises").glob("*.ipynb")} - {
        p.name for p in solutions
    }
    stale += [args.root / "exercises" / name for name in sorted(extra)]
    if stale:
        print(
            "exercises/ is out of step with solutions/ for: "
            + ", ".join(str(p.relative_to(args.root)) for p in stale)
            + ".\nRun `python tools/make_exercises.py` and commit the result "
            "(an exercise with no solution twin should be removed).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
