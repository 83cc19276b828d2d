"""Portal client rules that need no portal: URL safety and token redaction."""

from __future__ import annotations

import pytest

from etl.errors import ConfigError
from etl.portal import Portal, check_portal_url


@pytest.mark.parametrize(
    "url",
    [
        "https://opendata.duesseldorf.de",
        "http://127.0.0.1:5000/",
        "http://localhost:8080",
        "http://[::1]:5000",
    ],
)
def test_https_or_loopback_is_accepted(url: str) -> None:
    assert check_portal_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://opendata.duesseldorf.de", "http://10.0.0.5:5000", "ftp://x", "portal"]
)
def test_plain_http_to_other_hosts_is_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        Portal(url, "secret-token")


def test_token_never_in_repr_and_redacted_from_messages() -> None:
    portal = Portal("http://127.0.0.1:9", "tok-1234567890")
    assert "tok-1234567890" not in repr(portal)
    assert portal.redact("header tok-1234567890 leaked") == "header *** leaked"
