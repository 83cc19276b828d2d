"""External tools the benchmarks compare with, installed by the benchmark itself.

``make bench`` must work on a fresh Debian machine without steps done by hand, so a
missing tool is installed here from the distribution's packages when that is possible
(running as root with ``apt-get``); otherwise the caller decides what a missing tool
means for its profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

OGR2OGR_PACKAGE = "gdal-bin"
"""Debian's package of the GDAL command line tools (``ogr2ogr``, ``ogrinfo``)."""

_APT_TIMEOUT = 1800


def ensure_ogr2ogr(say: Callable[[str], None]) -> str | None:
    """The path of ``ogr2ogr``, installing Debian's ``gdal-bin`` if it is missing.

    Installs only as root on a system with ``apt-get`` (package lists are fetched
    first when ``gdal-bin`` is unknown to apt). Returns None when ``ogr2ogr`` is
    missing and cannot be installed here.

    Raises:
        RuntimeError: ``apt-get`` was tried and failed.
    """
    found = shutil.which("ogr2ogr")
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        say("ogr2ogr is missing and cannot be installed here (needs root and apt-get)")
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_knows(OGR2OGR_PACKAGE, env):
        say("apt-get update (package lists are missing)")
        _apt([apt_get, "update"], env)
    say(f"installing Debian's {OGR2OGR_PACKAGE} for ogr2ogr")
    _apt([apt_get, "install", "-y", "--no-install-recommends", OGR2OGR_PACKAGE], env)
    return shutil.which("ogr2ogr")


def gdal_version(ogr2ogr: str) -> str:
    """``ogr2ogr --version`` without the prefix, e.g. ``3.6.2, released 2023/01/02``."""
    completed = subprocess.run(
        [ogr2ogr, "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    return completed.stdout.strip().removeprefix("GDAL ").strip()


def _apt_knows(package: str, env: dict[str, str]) -> bool:
    apt_cache = shutil.which("apt-cache")
    if apt_cache is None:
        return False
    completed = subprocess.run(
        [apt_cache, "policy", package], capture_output=True, text=True, env=env, timeout=120
    )
    # without package lists apt-cache still answers, with "Candidate: (none)" or nothing
    return (
        completed.returncode == 0
        and "Candidate:" in completed.stdout
        and ("Candidate: (none)" not in completed.stdout)
    )


def _apt(command: list[str], env: dict[str, str]) -> None:
    completed = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=_APT_TIMEOUT
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({completed.returncode}): "
            f"{completed.stderr.strip()[-2000:]}"
        )
