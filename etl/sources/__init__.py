"""Source families: one module per kind of source, looked up by the registry's ``family``."""

from __future__ import annotations

import importlib
from typing import cast

from etl.errors import ConfigError
from etl.sources.base import SourceFamily

FAMILIES: dict[str, str] = {
    "first_names": "etl.sources.first_names",
    "statistics_tables": "etl.sources.statistics_tables",
    "geodata": "etl.sources.geodata",
}


def get_family(name: str) -> SourceFamily:
    """The module implementing family ``name``.

    Raises:
        ConfigError: no such family.
    """
    try:
        module = FAMILIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown source family {name!r} (known: {', '.join(FAMILIES)})"
        ) from None
    return cast(SourceFamily, importlib.import_module(module))
