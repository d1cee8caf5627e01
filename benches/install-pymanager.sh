#!/bin/sh
# Installs pymanager 0.2.6.1 into target/pymanager-venv, where the lifecycle benchmark
# finds it. Needs python3 with venv, and access to PyPI.
set -eu
cd "$(dirname "$0")/.."
python3 -m venv target/pymanager-venv
target/pymanager-venv/bin/pip install --quiet pymanager==0.2.6.1
target/pymanager-venv/bin/pymanager --version
