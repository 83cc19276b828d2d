"""The CKAN portal as an Airflow Connection (``ckan_default``).

Define it by environment, e.g.::

    AIRFLOW_CONN_CKAN_DEFAULT='{"conn_type": "http", "host": "portal.example.org",
                                "schema": "https", "password": "<API token>"}'

``host`` may also be a full URL. The token lives only in the Connection (Airflow
masks it in task logs) and is never returned through XCom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from etl.portal import Portal


class CkanHook(BaseHook):
    """Builds an :class:`etl.portal.Portal` from an Airflow Connection."""

    conn_name_attr = "ckan_conn_id"
    default_conn_name = "ckan_default"
    conn_type = "http"
    hook_name = "CKAN portal"

    def __init__(self, ckan_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ckan_conn_id = ckan_conn_id

    def portal_url(self) -> str:
        """Base URL of the portal from the Connection's host, schema and port."""
        conn = self.get_connection(self.ckan_conn_id)
        host = (conn.host or "").rstrip("/")
        if "://" in host:
            return host
        scheme = conn.schema or "https"
        port = f":{conn.port}" if conn.port else ""
        return f"{scheme}://{host}{port}"

    def get_conn(self) -> Portal:
        """A portal client with the Connection's token (password field)."""
        from etl.portal import Portal

        conn = self.get_connection(self.ckan_conn_id)
        return Portal(self.portal_url(), conn.password or None)
