"""The lecture notebooks in a real browser: JupyterLab driven by headless Chromium.

For every lecture notebook that shows a course widget, this test starts JupyterLab on
127.0.0.1 with no token (smoke mode, so the run takes a minute or two), opens the notebook in
Debian's Chromium through Playwright for Python, runs all cells from the Run menu, and checks
that no cell shows an error. Then, for each widget with a slider, it moves the first slider
with the keyboard and checks that the picture the widget shows has changed: the whole path
from the browser through the kernel to the decoder and back. A screenshot of each widget is
saved under ``build/screenshots/`` for a person to look at.

The notebooks run from a copy (JupyterLab would otherwise save outputs into them); the rest
of the course is linked in beside the copy, so trained weights and data are found where the
notebooks look for them. Needs ``chromium`` (``apt-get install chromium``; ``make test``
installs it where it can) and ``playwright`` (``pip install -e '.[dev]'``; no
``playwright install``: Playwright drives the system's Chromium). Without them the test is
skipped with the reason. Set ``COURSE_CHROMIUM`` to use another Chromium binary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
RUN_ALL_TIMEOUT_S = 900  # two slow cores, shared: a smoke run takes one to two minutes
START_TIMEOUT_S = 180  # for the kernel to start, and for Run All to start the first cell
WIDGET_TIMEOUT_S = 120
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on show, not a tab behind it
WIDGET_PATTERN = re.compile(r"course_lib\.widgets|Explorer\(")

pytestmark = pytest.mark.browser


def widget_notebooks() -> list[Path]:
    """The lecture notebooks whose code uses a course widget."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if WIDGET_PATTERN.search(code):
            found.append(path)
    return found


def find_chromium() -> str | None:
    """``COURSE_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on the PATH."""
    override = os.environ.get("COURSE_CHROMIUM", "").strip()
    if override:
        return override if Path(override).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_lecture_notebooks_with_widgets_are_found():
    names = [p.name for p in widget_notebooks()]
    assert "01_vae.ipynb" in names, names


# --- JupyterLab and the browser ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(folder: Path) -> None:
    """Settings for the test: no autosave, no news, no kernel dialog, every cell in the DOM."""
    settings = {
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
        "@jupyterlab/notebook-extension/tracker": {
            "windowingMode": "none",
            "autoStartDefaultKernel": True,
        },
    }
    for name, values in settings.items():
        path = folder / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _course_copy(target: Path) -> Path:
    """``target`` with a copy of notebooks/ and links to everything else of the course."""
    target.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in {"notebooks", ".git", "build"}:
            continue
        (target / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    shutil.copytree(ROOT / "notebooks", target / "notebooks")
    return target


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _stop_kernels(base: str, path: str | None = None) -> None:
    """Shut down the kernels of notebook ``path`` (of every notebook: None) through the API."""
    try:
        for session in _get_json(f"{base}/api/sessions"):
            if path is None or session["path"] == path:
                url = f"{base}/api/sessions/{session['id']}"
                urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30)
    except OSError:
        pass  # the server is already gone


def _stop_lab(proc: subprocess.Popen, base: str) -> None:
    """Shut the kernels down, then the server; kill what is left."""
    _stop_kernels(base)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "the browser test needs Playwright for Python: pip install playwright (it is in "
            "the dev extra: pip install -e '.[dev]'); no 'playwright install' is needed"
        )
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(
            "the browser test needs Chromium: apt-get install chromium (Debian/Ubuntu; "
            "`make test` does it when run as root), or set COURSE_CHROMIUM to a Chromium binary"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    """JupyterLab on a free 127.0.0.1 port, no token, smoke mode; yields (base url, root)."""
    work = tmp_path_factory.mktemp("lab")
    root = _course_copy(work / "course")
    _write_settings(work / "settings")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, SMOKE_TEST="1", JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    if "COURSE_DATA_DIR" not in env:  # the notebooks' default data/ is the course's own
        env["COURSE_DATA_DIR"] = str(ROOT / "data")
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",  # lets the teardown stop kernels through the API
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the notebook's outputs
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={work / 'settings'}",
        f"--LabApp.workspaces_dir={work / 'workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = work / "jupyterlab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                _get_json(f"{base}/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in 180 s:\n{log_path.read_text()}")
                time.sleep(0.5)
        yield base, root
    finally:
        _stop_lab(proc, base)


# --- driving a notebook ----------------------------------------------------------------------

# What the notebook on show looks like: each code cell's prompt ("[ ]:", "[*]:", "[3]:"), the
# errors it shows, and the kernel's status. JupyterLab draws an error output like stderr, so
# errors are read from the notebook's model (output_type "error", through window.jupyterapp)
# and, as a second net, from any output that shows a Python traceback.
_STATE_JS = """() => {
  const panel = document.querySelector('PANEL');
  if (!panel) return {prompts: [], errors: [], status: null};
  const prompts = Array.from(panel.querySelectorAll('.jp-CodeCell'))
    .map(cell => cell.querySelector('.jp-InputPrompt')?.textContent.trim() ?? '');
  const errors = [];
  const notebook = window.jupyterapp?.shell.currentWidget?.content;
  for (const cell of notebook?.widgets ?? []) {
    if (cell.model.type !== 'code') continue;
    for (const output of cell.model.outputs.toJSON()) {
      if (output.output_type === 'error') errors.push(`${output.ename}: ${output.evalue}`);
    }
  }
  for (const output of panel.querySelectorAll('.jp-OutputArea-output')) {
    const text = output.innerText;
    if (text.includes('Traceback (most recent call last)') ||
        text.includes('Error displaying widget')) errors.push(text.slice(-3000));
  }
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {prompts, errors, status: indicator?.dataset.status ?? null};
}""".replace("PANEL", PANEL)

_PIXELS_JS = """img => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return canvas.toDataURL('image/png');
}"""


def _wait_for(page, predicate, timeout_s: float, what: str, poll_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        page.wait_for_timeout(poll_s * 1000)


def _accept_dialog(page) -> str | None:
    """Accept a JupyterLab dialog (e.g. "Select Kernel": the notebook's own); return its text."""
    dialog = page.locator(".jp-Dialog")
    if not dialog.count():
        return None
    text = dialog.first.inner_text()
    dialog.locator("button.jp-mod-accept").first.click()
    return text


def _wait_for_kernel(page, base: str, path: str) -> None:
    """Until the notebook's kernel runs on the server and is idle, and the page knows it."""

    def idle():
        _accept_dialog(page)
        sessions = _get_json(f"{base}/api/sessions")
        states = [s["kernel"]["execution_state"] for s in sessions if s["path"] == path]
        return states == ["idle"]

    _wait_for(page, idle, START_TIMEOUT_S, f"the kernel of {path} to start")
    page.wait_for_selector(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']")
    # the status bar's "Python 3 (ipykernel) | Idle": the page is connected to that kernel
    page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=START_TIMEOUT_S * 1000)


def _run_all_cells(page, timeout_s: float) -> dict:
    """Run > Run All Cells, then wait until every code cell has run and the kernel is idle."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))
    page.locator(".lm-Menu-item").filter(has=label).click()
    start = last_report = time.monotonic()
    stalls = 0

    def finished():
        nonlocal last_report, stalls
        dialog = _accept_dialog(page)
        if dialog:
            print(f"accepted a dialog during Run All: {dialog!r}")
        state = page.evaluate(_STATE_JS)
        if state["errors"]:
            return state  # stop waiting: the error is reported below
        prompts = state["prompts"]
        done = sum(bool(re.fullmatch(r"\[\d+\]:", p)) for p in prompts)
        elapsed = time.monotonic() - start
        if elapsed > START_TIMEOUT_S and done == 0 and "[*]:" not in prompts:
            pytest.fail(f"Run All Cells started no cell in {START_TIMEOUT_S} s")
        if state["status"] == "idle" and 0 < done < len(prompts) and "[*]:" not in prompts:
            stalls += 1  # idle, nothing queued, cells left: Run All stopped (at an error)
            if stalls >= 3:
                state["errors"].append(f"Run All stopped after {done} of {len(prompts)} cells")
                return state
        else:
            stalls = 0
        if time.monotonic() - last_report > 60:
            print(f"  {done}/{len(prompts)} code cells run after {elapsed:.0f} s", flush=True)
            last_report = time.monotonic()
        return state if done == len(prompts) and state["status"] == "idle" else None

    return _wait_for(page, finished, timeout_s, "Run All Cells to finish", poll_s=2.0)


def _move_first_slider(page, cell, index: int, stem: str) -> None:
    """Press arrow keys on the first slider of ``cell``; its picture must change."""
    images = cell.locator("img.widget-image")
    count = images.count()
    assert count, f"widget {index} of {stem} shows no image"
    before_src = [images.nth(i).get_attribute("src") for i in range(count)]
    before_pixels = [images.nth(i).evaluate(_PIXELS_JS) for i in range(count)]
    handle = cell.locator(".widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    now, low, high = (
        float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax")
    )
    key = "ArrowRight" if now < (low + high) / 2 else "ArrowLeft"
    handle.focus()
    for _ in range(10):
        handle.press(key)
        page.wait_for_timeout(100)

    def changed():
        srcs = [images.nth(i).get_attribute("src") for i in range(count)]
        return [i for i in range(count) if srcs[i] != before_src[i]]

    _wait_for(page, changed, WIDGET_TIMEOUT_S, f"widget {index} of {stem} to redraw")
    assert float(handle.get_attribute("aria-valuenow")) != now, "the slider did not move"
    # each key press asked for a picture: wait for the last one (no new image for 2 s)
    settled = {"srcs": None}

    def still():
        srcs = [images.nth(i).get_attribute("src") for i in range(count)]
        same, settled["srcs"] = srcs == settled["srcs"], srcs
        return same and page.evaluate(_STATE_JS)["status"] == "idle"

    _wait_for(page, still, WIDGET_TIMEOUT_S, f"widget {index} of {stem} to settle", poll_s=2.0)
    moved = changed()
    after_pixels = [images.nth(i).evaluate(_PIXELS_JS) for i in moved]
    assert any(after != before_pixels[i] for i, after in zip(moved, after_pixels, strict=True)), (
        f"widget {index} of {stem}: a new image was sent, but its pixels are the same"
    )


@pytest.mark.parametrize("notebook", widget_notebooks(), ids=lambda p: p.stem)
def test_lecture_notebook_runs_and_its_widgets_answer_in_a_browser(notebook, lab, browser):
    base, _root = lab
    stem = notebook.stem
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # ?reset: a fresh workspace, so the notebook of an earlier test is not reopened
        page.goto(f"{base}/lab/tree/notebooks/{notebook.name}?reset", timeout=120_000)
        _wait_for_kernel(page, base, f"notebooks/{notebook.name}")
        start = time.monotonic()
        state = _run_all_cells(page, RUN_ALL_TIMEOUT_S)
        assert not state["errors"], f"{notebook.name} shows an error:\n" + "\n".join(
            state["errors"]
        )
        print(
            f"\n{notebook.name}: all {len(state['prompts'])} code cells ran in the browser "
            f"in {time.monotonic() - start:.0f} s"
        )

        cells = page.locator(f"{PANEL} .jp-CodeCell").filter(has=page.locator(".widget-slider"))
        count = cells.count()
        assert count, f"{notebook.name} uses a widget but no slider was rendered"
        for index in range(count):
            cell = cells.nth(index)
            _move_first_slider(page, cell, index + 1, stem)
            path = SCREENSHOTS / f"{stem}-widget-{index + 1}.png"
            cell.locator(".jp-Cell-outputArea").screenshot(path=str(path))
            print(f"screenshot of widget {index + 1}: {path}")

        state = page.evaluate(_STATE_JS)
        assert not state["errors"], "\n".join(state["errors"])
    except BaseException:
        failure = SCREENSHOTS / f"{stem}-failure.png"
        page.screenshot(path=str(failure), full_page=True)
        print(f"screenshot of the page at the failure: {failure}")
        raise
    finally:
        page.close()
        _stop_kernels(base, f"notebooks/{notebook.name}")
