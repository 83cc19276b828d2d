"""Source families: one module per kind of source, looked up by the registry's ``family``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from etl.errors import ConfigError
from etl.sources.base import SourceFamily

if TYPE_CHECKING:
    from etl.registry import Dataset

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


def default_partition_key(name: str) -> str:
    """The partition key of a file without a family rule: its name, case-insensitive."""
    return name.casefold()


def partition_key(dataset: Dataset, name: str) -> str:
    """Which member of a dataset's input set a file named ``name`` stands for.

    A file dropped into a folder of mode ``add`` replaces the member with the same key.
    A family may define ``partition_key(name) -> str | None`` (first names: year and
    gender from the file name); ``None`` or no rule falls back to the file name.
    """
    family = get_family(dataset.family)
    rule = cast(Callable[[str], str | None] | None, getattr(family, "partition_key", None))
    key = rule(name) if rule is not None else None
    return key if key is not None else default_partition_key(name)
