import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from make_exercises import blank_source  # noqa: E402


def run_check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_exercises.py"), "--check", "--root", str(root)],
        capture_output=True,
        text=True,
    )


def test_exercises_are_in_step_with_solutions():
    result = run_check(ROOT)
    assert result.returncode == 0, result.stderr


def test_every_solution_has_an_exercise_and_a_lecture_twin():
    solutions = {p.name for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")}
    assert solutions, "no solution notebooks"
    assert solutions == {p.name for p in (ROOT / "exercises").glob("*.ipynb")}
    assert solutions <= {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_an_edited_solution_makes_the_drift_check_fail(tmp_path):
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    path = sorted((tmp_path / "solutions").glob("*.ipynb"))[0]
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "a new remark"})
    path.write_text(json.dumps(nb))
    result = run_check(tmp_path)
    assert result.returncode == 1 and path.name in result.stderr


def test_blank_source_replaces_each_block_at_its_indentation():
    source = (
        "def f(x):\n"
        '    """doc"""\n'
        "    ### BEGIN SOLUTION\n"
        "    y = x + 1\n"
        "    return y\n"
        "    ### END SOLUTION\n"
    )
    assert blank_source(source, "t") == (
        'def f(x):\n    """doc"""\n'
        '    raise NotImplementedError("Exercise: replace this line with your code")'
    )
    with pytest.raises(ValueError, match="never closed"):
        blank_source("### BEGIN SOLUTION\nx = 1", "t")
    with pytest.raises(ValueError, match="without BEGIN"):
        blank_source("x = 1\n### END SOLUTION", "t")


def test_committed_notebooks_have_no_outputs_and_a_kernelspec():
    for path in ROOT.glob("[nes]*/[0-9][0-9]_*.ipynb"):
        nb = json.loads(path.read_text())
        assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", path
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"], f"{path} has outputs"
