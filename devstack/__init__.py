"""The local portal stack: CKAN 2.12, a Solr stand-in and PostgreSQL, without Docker.

Used by the demo (``python -m devstack portal up``) and by the integration tests
(:func:`devstack.portal.start_portal`). Everything binds to 127.0.0.1.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root; the default stack lives in ``PROJECT_ROOT / ".stack"``."""

DEFAULT_STACK_DIR = PROJECT_ROOT / ".stack"
