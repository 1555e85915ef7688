"""make run-all: tools/run_all.py executes notebooks and writes HTML copies with their outputs."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN_ALL = ROOT / "tools" / "run_all.py"


def run_all(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, SMOKE_TEST="1")
    return subprocess.run(
        [sys.executable, str(RUN_ALL), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.mark.slow
def test_run_all_writes_chapter_01_as_html_with_its_figures(tmp_path):
    result = run_all("notebooks/01_vae.ipynb", "--smoke", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "01_vae.html").read_text(encoding="utf-8")
    assert "Chapter 01" in page
    figures = page.count('src="data:image/png;base64,')
    assert figures >= 5, f"only {figures} embedded figures"
    assert "smoke test: True" in page  # the first cell's output: the kernel ran in smoke mode
    assert re.search(r"01_vae\.ipynb: \d+\.\d s, ok", result.stdout), result.stdout
    assert "01_vae.html" in (tmp_path / "index.html").read_text(encoding="utf-8")


def _notebook(cells: list[str]) -> dict:
    return {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}}
            | {"outputs": [], "source": source}
            for i, source in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_a_failing_notebook_is_still_written_up_to_its_error_and_reported(tmp_path):
    path = tmp_path / "99_broken.ipynb"
    path.write_text(json.dumps(_notebook(["print('first cell ran')", "1 / 0", "print('never')"])))
    result = run_all(str(path), "--out", str(tmp_path / "html"), timeout=300)
    assert result.returncode == 1
    assert "99_broken.ipynb" in result.stdout and "FAILED" in result.stdout
    assert "ZeroDivisionError" in result.stdout
    page = (tmp_path / "html" / "99_broken.html").read_text(encoding="utf-8")
    assert "<pre>first cell ran" in page and "ZeroDivisionError" in page
    assert "<pre>never" not in page  # nothing ran after the error


def test_an_unknown_chapter_is_refused_with_the_list_of_notebooks(tmp_path):
    result = run_all("42", "--out", str(tmp_path), timeout=120)
    assert result.returncode != 0
    assert "no notebook '42'" in result.stderr and "01_vae.ipynb" in result.stderr


def test_an_interrupted_run_keeps_what_ran_and_runs_no_further_notebook(tmp_path):
    started = tmp_path / "started"
    first = tmp_path / "98_slow.ipynb"
    cells = [f"open({str(started)!r}, 'w').close()\nprint('first cell ran')", "time.sleep(300)"]
    first.write_text(json.dumps(_notebook(["import time", *cells])))
    second = tmp_path / "99_next.ipynb"
    second.write_text(json.dumps(_notebook(["print('second notebook')"])))
    out = tmp_path / "html"
    env = dict(os.environ, SMOKE_TEST="1")
    command = [sys.executable, str(RUN_ALL), str(first), str(second), "--out", str(out)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as run:
        deadline = time.monotonic() + 120
        while not started.exists():
            assert run.poll() is None and time.monotonic() < deadline, "the first cells never ran"
            time.sleep(0.2)
        time.sleep(1)  # into the sleeping cell
        run.send_signal(signal.SIGINT)
        stdout, _ = run.communicate(timeout=120)
    assert run.returncode == 1
    assert "98_slow.ipynb" in stdout and "interrupted" in stdout, stdout
    page = (out / "98_slow.html").read_text(encoding="utf-8")
    assert "<pre>first cell ran" in page
    assert "99_next" not in stdout and not (out / "99_next.html").exists()
