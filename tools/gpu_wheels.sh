#!/usr/bin/env bash
# Download, into the ignored .whl/, the wheels that tools/gpu_check.sh installs on the GPU
# machine so that tools/run_all.py can run the notebooks there: nbconvert, nbclient,
# ipykernel, ipywidgets and everything they need, at the versions of this checkout's .venv,
# for the machine's CPython 3.12 on x86-64 Linux. Packages the machine already has (its
# image holds torch, numpy, matplotlib, jinja2, pygments, ...) are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
"$python" - >.whl.txt <<'PY'
import importlib.metadata as md
import re

from packaging.requirements import Requirement

ROOTS = ["nbconvert", "nbclient", "ipykernel", "ipywidgets", "tinycss2"]
ON_THE_MACHINE = {"attrs", "jinja2", "markupsafe", "packaging", "psutil", "pygments",
                  "python-dateutil", "six", "typing-extensions", "tzdata"}
TARGET = {"python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
          "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64",
          "implementation_name": "cpython", "platform_python_implementation": "CPython",
          "extra": ""}
found, todo = {}, list(ROOTS)
while todo:
    name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
    if name in found or name in ON_THE_MACHINE:
        continue
    dist = md.distribution(name)
    found[name] = dist.version
    for line in dist.requires or []:
        need = Requirement(line)
        if need.marker is None or need.marker.evaluate(TARGET):
            todo.append(need.name)
print("\n".join(f"{name}=={version}" for name, version in sorted(found.items())))
PY
rm -rf .whl && mkdir .whl
platforms=()
for p in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${p}_x86_64")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" -d .whl -r .whl.txt
rm .whl.txt
echo "$(ls .whl | wc -l) wheels, $(du -sh .whl | cut -f1), in .whl/"
