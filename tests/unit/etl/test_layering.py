"""etl/ works without Airflow: importing every module with Airflow blocked succeeds."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT

SCRIPT = """
import importlib, pkgutil, sys
sys.modules['airflow'] = None  # any 'import airflow...' now raises ImportError
import etl
names = [m.name for m in pkgutil.walk_packages(etl.__path__, 'etl.')]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_etl_module_imports_without_airflow() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 10
