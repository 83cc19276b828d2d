"""Publishing to the CKAN portal through its action API (ckanapi).

``Portal`` wraps ``ckanapi.RemoteCKAN``: every call has a timeout, idempotent
calls are retried with backoff on timeouts, connection errors and 5xx/409/429,
calls are counted (reads/writes per action, bytes uploaded), and the API token
never appears in a message, log line or ``repr``.

``publish`` converges the portal to the rendered files: it reads the package
once, creates or patches it, and creates or patches each resource matched by its
stable name. A resource whose stored ``hash`` equals the file's sha256 is not
uploaded again, so an unchanged dataset costs exactly one read and no write.

The package carries its DCAT-AP.de metadata as extras (see :mod:`etl.metadata`);
``issued``/``modified`` are derived from the package read, so they change only when
a file's content does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import ipaddress
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit

import ckanapi
import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from etl.errors import ConfigError, PortalError, PortalNotAuthorized
from etl.formats import RenderedFile
from etl.metadata import ckan_extras, lifecycle_stamps, resolve
from etl.registry import Dataset, PortalConfig, load_portal_config

log = logging.getLogger(__name__)

USER_AGENT = "duesseldorf-harvest/0.1 (+https://opendata.duesseldorf.de)"
DEFAULT_TIMEOUT = (5.0, 120.0)
"""(connect, read) seconds; uploads of large files need the long read timeout."""

Action = Literal["created", "updated", "unchanged", "failed"]


def check_portal_url(url: str) -> str:
    """Refuse URLs that would send the API token in clear text.

    Plain ``http`` is accepted only for loopback hosts (the local stack).

    Raises:
        ConfigError: not an absolute http(s) URL, or http to a non-loopback host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"portal URL {url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing to send the API token over plain HTTP to {parts.hostname}: "
            "use https (plain http is allowed for loopback only)"
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _StatusSession(requests.Session):
    """Remembers the last HTTP status: ckanapi hides it in a message string."""

    last_status: int | None = None

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.last_status = None
        response = super().request(*args, **kwargs)
        self.last_status = response.status_code
        return response


class _Transient(Exception):
    """A failure worth retrying (wraps the original)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass
class CallStats:
    """What a publish cost on the portal side."""

    reads: Counter[str] = field(default_factory=Counter)
    writes: Counter[str] = field(default_factory=Counter)
    bytes_uploaded: int = 0
    retries: int = 0

    @property
    def read_calls(self) -> int:
        return sum(self.reads.values())

    @property
    def write_calls(self) -> int:
        return sum(self.writes.values())


READ_ACTIONS = frozenset(
    {
        "package_show",
        "package_search",
        "organization_show",
        "organization_list",
        "resource_show",
        "resource_search",
        "status_show",
        "api_token_list",
        "user_show",
        "organization_list_for_user",
    }
)
IDEMPOTENT_WRITES = frozenset(
    {"package_patch", "resource_patch", "package_update", "resource_delete"}
)


class Portal:
    """A CKAN portal reachable through its action API.

    Args:
        url: base URL, https (http only for loopback).
        token: API token; needed for writes and private datasets.
        timeout: (connect, read) timeout of every call in seconds.
        max_attempts / max_retry_seconds: bound on retries of idempotent calls.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_attempts: int = 4,
        max_retry_seconds: float = 60.0,
        backoff_seconds: float = 0.5,
    ) -> None:
        self.url = check_portal_url(url)
        self._token = token or None
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.backoff_seconds = backoff_seconds
        self._session = _StatusSession()
        self._ckan = ckanapi.RemoteCKAN(
            self.url, apikey=self._token, user_agent=USER_AGENT, session=self._session
        )
        self.stats = CallStats()
        self.organization_ids: dict[str, str] = {}
        """Organization ids by name, as read or created (shared with clones)."""

    def __repr__(self) -> str:
        return f"Portal({self.url!r}, token={'***' if self._token else None})"

    def clone(self) -> Portal:
        """A new client for the same portal and token with its own session and counters
        (a ``requests.Session`` must not be shared between threads)."""
        twin = Portal(
            self.url,
            self._token,
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            max_retry_seconds=self.max_retry_seconds,
            backoff_seconds=self.backoff_seconds,
        )
        twin.organization_ids = self.organization_ids
        return twin

    def close(self) -> None:
        self._ckan.close()

    def __enter__(self) -> Portal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ calls

    def redact(self, text: str) -> str:
        """``text`` with the token replaced by ``***``."""
        return text.replace(self._token, "***") if self._token else text

    def call(
        self,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        upload: Path | None = None,
    ) -> Any:
        """Call an action; retry only when repeating it cannot do harm.

        Raises:
            ckanapi.NotFound: the object does not exist (callers decide what that means).
            PortalError: any other failure, with a message that names the action.
        """
        is_read = action in READ_ACTIONS
        retryable = is_read or action in IDEMPOTENT_WRITES

        def attempt() -> Any:
            with self._opened(upload) as files:
                return self._call_once(action, data or {}, files)

        try:
            if not retryable:
                result = attempt()
            else:
                result = Retrying(
                    retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
                    stop=stop_after_attempt(self.max_attempts)
                    | stop_after_delay(self.max_retry_seconds),
                    wait=wait_exponential(multiplier=self.backoff_seconds, max=8),
                    before_sleep=self._log_retry(action),
                    reraise=True,
                )(attempt)
        except _Transient as exc:
            raise PortalError(f"{action} failed at {self.url}: {exc.description}") from None
        return result

    @contextmanager
    def _opened(self, upload: Path | None) -> Iterator[dict[str, IO[bytes]] | None]:
        if upload is None:
            yield None
            return
        with upload.open("rb") as handle:
            yield {"upload": handle}

    def _log_retry(self, action: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1
            outcome = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s: %s; retry %d in %.1f s",
                action,
                outcome,
                state.attempt_number,
                state.next_action.sleep if state.next_action else 0,
            )

        return before_sleep

    def _call_once(
        self, action: str, data: dict[str, Any], files: dict[str, IO[bytes]] | None
    ) -> Any:
        # counted per HTTP request, retries included: this is what the portal sees
        (self.stats.reads if action in READ_ACTIONS else self.stats.writes)[action] += 1
        if files:
            for handle in files.values():
                self.stats.bytes_uploaded += Path(handle.name).stat().st_size
        try:
            return self._ckan.call_action(
                action, data, files=files, requests_kwargs={"timeout": self.timeout}
            )
        except ckanapi.NotFound:
            raise
        except ckanapi.NotAuthorized:
            raise PortalNotAuthorized(
                f"{action} refused by {self.url}: not authorized (is the API token valid, "
                "and is its user an editor of the organization?)"
            ) from None
        except ckanapi.ValidationError as exc:
            raise PortalError(
                self.redact(f"{action} rejected by {self.url}: {_validation_text(exc)}")
            ) from None
        except requests.Timeout:
            raise _Transient(f"no answer within {self.timeout[1]:.0f} s") from None
        except requests.ConnectionError:
            raise _Transient("portal not reachable (connection refused or reset)") from None
        except (ckanapi.CKANAPIError, ckanapi.ServerIncompatibleError) as exc:
            status = self._session.last_status
            text = self.redact(str(exc))[:300]
            if status is not None and (status >= 500 or status in (409, 429)):
                raise _Transient(f"HTTP {status}: {text}") from None
            raise PortalError(f"{action} failed at {self.url}: HTTP {status}: {text}") from None


def _validation_text(exc: Exception) -> str:
    errors = getattr(exc, "error_dict", None)
    if isinstance(errors, dict):
        parts = [f"{k}: {v}" for k, v in errors.items() if k != "__type"]
        return "; ".join(parts)
    return str(exc)


# ---------------------------------------------------------------------- publishing


@dataclass
class ResourceOutcome:
    """What happened (or would happen, in a dry run) to one resource."""

    resource: str
    action: Action
    sha256: str
    resource_id: str | None = None
    url: str | None = None
    error: str | None = None


@dataclass
class PublishResult:
    """Outcome of publishing one dataset."""

    dataset: str
    package_action: Action
    resources: list[ResourceOutcome]
    dry_run: bool
    portal_url: str
    reads: int = 0
    writes: int = 0
    bytes_uploaded: int = 0

    @property
    def changed(self) -> bool:
        return self.package_action != "unchanged" or any(
            r.action != "unchanged" for r in self.resources
        )

    @property
    def dataset_url(self) -> str:
        return f"{self.portal_url}/dataset/{self.dataset}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dataset_url"] = self.dataset_url
        return data


def data_dictionary(dataset: Dataset) -> str:
    """The columns as a Markdown table (CKAN renders Markdown in descriptions)."""
    lines = ["| Spalte | Typ | Beschreibung |", "|---|---|---|"]
    for column in dataset.columns:
        unit = f" ({column.unit})" if column.unit else ""
        description = column.description.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{column.name}` | {column.type} | {description}{unit} |")
    return "\n".join(lines)


def package_fields(
    dataset: Dataset,
    facts: dict[str, Any] | None = None,
    *,
    stamps: dict[str, str] | None = None,
    config: PortalConfig | None = None,
) -> dict[str, Any]:
    """The package as the registry wants it on the portal (without resources).

    Args:
        facts: package-level facts derived from the data (``Tidy.notes["package"]``,
            e.g. the spatial extent, the temporal coverage); published as extras.
        stamps: ``issued``/``modified`` (see :func:`etl.metadata.lifecycle_stamps`).
        config: portal defaults (default: ``registry/_portal.yaml``).
    """
    package = dataset.package
    meta = resolve(dataset, config or load_portal_config(), facts, **(stamps or {}))
    # family facts users must know (sign legend, confidentiality rule) follow the text
    paragraphs = [package.description.strip(), *dataset.source.package_notes()]
    notes = "\n\n".join(paragraphs) + f"\n\n### Spalten\n\n{data_dictionary(dataset)}\n"
    fields: dict[str, Any] = {
        "name": dataset.id,
        "title": package.title,
        "notes": notes,
        "tags": [{"name": tag} for tag in sorted(set(package.tags))],
        # ckanext-dcatde's licence register uses the DCAT-AP.de IRIs as licence ids
        "license_id": meta.license or "",
        "maintainer": package.maintainer,
        "maintainer_email": package.maintainer_email,
        "url": package.url or "",
        "private": dataset.release == "queued",
        # facts first: the resolved metadata owns the keys both know (temporal, spatial)
        "extras": _extras({**(facts or {}), **ckan_extras(meta)}),
    }
    return fields


def _extras(values: dict[str, Any]) -> list[dict[str, str]]:
    """CKAN extras are string pairs; structured values are stored as JSON."""
    extras = []
    for key in sorted(values):
        value = values[key]
        if value is None:
            continue
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value, ensure_ascii=False, sort_keys=True)
        )
        extras.append({"key": key, "value": text})
    return extras


def resource_fields(
    dataset: Dataset, file: RenderedFile, *, config: PortalConfig | None = None
) -> dict[str, Any]:
    """Metadata of one resource (without the upload).

    ``licenseAttributionByText`` is ckanext-dcatde's resource field; it is always sent
    (empty for licences without attribution) so that a change of licence clears it.
    """
    resource = next(r for r in dataset.resources if r.resource_name(dataset.id) == file.resource)
    description = resource.description or f"{dataset.package.title} als {file.format}"
    description = f"{description}\n\n{data_dictionary(dataset)}"
    meta = resolve(dataset, config or load_portal_config())
    return {
        "name": file.resource,
        "format": file.format,
        "description": description,
        "mimetype": file.mimetype,
        "hash": f"sha256:{file.sha256}",
        "licenseAttributionByText": meta.attribution or "",
    }


def _package_differences(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    differences = []
    for key, want in desired.items():
        have = current.get(key)
        if key == "tags":
            have = sorted(t["name"] for t in have or [])
            want = sorted(t["name"] for t in want)
        elif key == "extras":
            have = {e["key"]: e["value"] for e in have or []}
            want = {e["key"]: e["value"] for e in want}
        elif isinstance(want, str):
            have = have or ""
        if have != want:
            differences.append(key)
    return differences


def _resource_differences(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    differences = []
    for key in ("name", "description", "hash", "licenseAttributionByText"):
        if (current.get(key) or "") != desired[key]:
            differences.append(key)
    if (current.get("format") or "").upper() != desired["format"].upper():
        differences.append("format")
    return differences


STATE_KEY = "harvest_state"
"""Package extra set to ``incomplete`` while resources are being written. A run that
dies part-way leaves it on the portal (visible to the team and to harvesters) and
the next run, finding it, completes the package and removes it."""


class PublishIncomplete(PortalError):
    """Publishing stopped part-way; ``result`` says what was done before the failure."""

    def __init__(self, message: str, result: PublishResult) -> None:
        super().__init__(message)
        self.result = result


class Unread(enum.Enum):
    """Marks that the caller has not read the package: :func:`publish` reads it."""

    UNREAD = "unread"


UNREAD = Unread.UNREAD


@dataclass
class _Step:
    file: RenderedFile
    wanted: dict[str, Any]
    have: dict[str, Any] | None
    action: Action
    upload: bool


def publish(
    dataset: Dataset,
    files: list[RenderedFile],
    *,
    portal: Portal,
    dry_run: bool = False,
    facts: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    config: PortalConfig | None = None,
    now: dt.datetime | None = None,
    current: dict[str, Any] | Unread | None = UNREAD,
) -> PublishResult:
    """Bring the portal's package ``dataset.id`` in line with ``files``.

    One read (``package_show``) decides everything. If no resource changes, at most
    one ``package_patch`` follows (none when the metadata is unchanged, too). If
    resources change, the package is first marked ``harvest_state=incomplete``
    (in the same create/patch that updates its metadata), then each resource is
    created or patched by its stable name, then the mark is removed. Resources of
    the same name found more than once (left by some earlier failure) are reduced
    to one. Resources not in the registry are left alone.

    ``issued``/``modified`` are derived from the package read (see
    :func:`etl.metadata.lifecycle_stamps`): a run that uploads a file moves
    ``modified`` to ``now``, which costs one package write besides the uploads.

    Args:
        config: portal defaults (default: ``registry/_portal.yaml``).
        now: the run's clock for ``issued``/``modified`` (default: the current time).
        current: the package as the caller already read it (``package_show`` shape,
            e.g. from one ``package_search`` for many datasets, see :mod:`etl.sync`).
            If it shows nothing to do, no call is made at all; otherwise the package is
            read again before anything is written.

    Raises:
        PublishIncomplete: a write failed after others succeeded; the package keeps
            its ``incomplete`` mark and the next run completes it without duplicates.
        PortalError: the portal is unreachable or refused a call before any write.
    """
    say = progress or (lambda _message: None)
    start_reads, start_writes = portal.stats.read_calls, portal.stats.write_calls
    start_bytes = portal.stats.bytes_uploaded
    config = config or load_portal_config()

    existing: dict[str, Any] | None
    if isinstance(current, Unread):
        try:
            existing = portal.call("package_show", {"id": dataset.id})
        except ckanapi.NotFound:
            existing = None
    else:
        existing = current

    # ---- plan (reads only)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for resource in (existing or {}).get("resources", []):
        by_name.setdefault(resource.get("name") or "", []).append(resource)
    steps: list[_Step] = []
    duplicates: list[dict[str, Any]] = []
    for file in files:
        wanted = resource_fields(dataset, file, config=config)
        found = by_name.get(file.resource, [])
        have = found[0] if found else None
        duplicates.extend(found[1:])
        if have is None:
            steps.append(_Step(file, wanted, None, "created", True))
        else:
            differences = _resource_differences(have, wanted)
            steps.append(
                _Step(
                    file,
                    wanted,
                    have,
                    "updated" if differences else "unchanged",
                    "hash" in differences,
                )
            )
    resource_writes = bool(duplicates) or any(step.action != "unchanged" for step in steps)
    stamps = lifecycle_stamps(
        existing,
        content_changed=any(step.upload for step in steps),
        resource_names=[r.resource_name(dataset.id) for r in dataset.resources],
        now=now or dt.datetime.now(dt.UTC),
    )
    desired = package_fields(dataset, facts, stamps=stamps, config=config)

    if existing is None:
        package_action: Action = "created"
        differences = ["(new)"]
    else:
        differences = _package_differences(existing, desired)
        if (existing.get("organization") or {}).get("name") != dataset.organization.name:
            differences.append("owner_org")
        package_action = "updated" if differences else "unchanged"

    if not isinstance(current, Unread) and (package_action != "unchanged" or resource_writes):
        # a state read earlier (one search for many datasets) only decides that nothing
        # is to be done; before writing, the package is read again, so a change made
        # since then by another run can never lead to a duplicate resource
        return publish(
            dataset,
            files,
            portal=portal,
            dry_run=dry_run,
            facts=facts,
            progress=progress,
            config=config,
            now=now,
        )

    def result(outcomes: list[ResourceOutcome]) -> PublishResult:
        return PublishResult(
            dataset=dataset.id,
            package_action=package_action,
            resources=outcomes,
            dry_run=dry_run,
            portal_url=portal.url,
            reads=portal.stats.read_calls - start_reads,
            writes=portal.stats.write_calls - start_writes,
            bytes_uploaded=portal.stats.bytes_uploaded - start_bytes,
        )

    if dry_run:
        return result(
            [
                ResourceOutcome(
                    resource=step.file.resource,
                    action=step.action,
                    sha256=step.file.sha256,
                    resource_id=(step.have or {}).get("id"),
                    url=(step.have or {}).get("url"),
                )
                for step in steps
            ]
        )

    # ---- execute
    marked = {**desired, "extras": [*desired["extras"], {"key": STATE_KEY, "value": "incomplete"}]}
    first = marked if resource_writes else desired
    if existing is None:
        owner = _ensure_organization(dataset, portal)
        say(f"creating package {dataset.id}")
        existing = portal.call("package_create", {**first, "owner_org": owner})
    elif differences or resource_writes:
        say(
            f"updating package {dataset.id}"
            + (f": {', '.join(differences)}" if differences else "")
        )
        patch = {"id": existing["id"], **first}
        if "owner_org" in differences:
            patch["owner_org"] = _ensure_organization(dataset, portal)
        existing = portal.call("package_patch", patch)
    assert existing is not None

    outcomes: list[ResourceOutcome] = []
    pending = list(steps)
    try:
        for duplicate in duplicates:
            say(f"removing duplicate resource {duplicate.get('name')} ({duplicate['id']})")
            with contextlib.suppress(ckanapi.NotFound):  # already gone is what we want
                portal.call("resource_delete", {"id": duplicate["id"]})
        while pending:
            step = pending[0]
            have = step.have
            if step.action == "created":
                say(f"uploading {step.file.resource} ({step.file.size:,} bytes)")
                have = portal.call(
                    "resource_create",
                    {"package_id": existing["id"], **step.wanted},
                    upload=Path(step.file.path),
                )
            elif step.action == "updated":
                assert have is not None
                say(
                    f"{'uploading' if step.upload else 'updating'} {step.file.resource}"
                    + (f" ({step.file.size:,} bytes)" if step.upload else "")
                )
                have = portal.call(
                    "resource_patch",
                    {"id": have["id"], **step.wanted},
                    upload=Path(step.file.path) if step.upload else None,
                )
            outcomes.append(
                ResourceOutcome(
                    resource=step.file.resource,
                    action=step.action,
                    sha256=step.file.sha256,
                    resource_id=(have or {}).get("id"),
                    url=(have or {}).get("url"),
                )
            )
            pending.pop(0)
        if resource_writes:
            say(f"marking package {dataset.id} complete")
            portal.call("package_patch", {"id": existing["id"], "extras": desired["extras"]})
    except PortalError as exc:
        outcomes.extend(
            ResourceOutcome(
                resource=step.file.resource,
                action="failed",
                sha256=step.file.sha256,
                resource_id=(step.have or {}).get("id"),
                error=str(exc) if index == 0 else "not attempted",
            )
            for index, step in enumerate(pending)
        )
        partial = result(outcomes)
        raise PublishIncomplete(
            f"{dataset.id}: publishing stopped part-way ({exc}); the package is marked "
            f"{STATE_KEY}=incomplete and the next run completes it",
            partial,
        ) from None
    return result(outcomes)


def _ensure_organization(dataset: Dataset, portal: Portal) -> str:
    """Id of the dataset's organization, created if the token may do so.

    Read once per client (and its clones): many new datasets of one department cost
    one ``organization_show``.
    """
    org = dataset.organization
    known = portal.organization_ids.get(org.name)
    if known is not None:
        return known
    try:
        found: dict[str, Any] = portal.call(
            "organization_show", {"id": org.name, "include_datasets": False}
        )
        portal.organization_ids[org.name] = str(found["id"])
        return str(found["id"])
    except ckanapi.NotFound:
        pass
    try:
        created: dict[str, Any] = portal.call(
            "organization_create",
            {"name": org.name, "title": org.title, "description": org.description},
        )
    except PortalError as exc:
        raise PortalError(
            f"organization {org.name!r} does not exist on {portal.url} and could not be "
            f"created ({exc}); a portal administrator has to create it and make the "
            "pipeline's user an editor"
        ) from None
    portal.organization_ids[org.name] = str(created["id"])
    return str(created["id"])


def wait_until_ready(portal: Portal, *, seconds: float = 60.0) -> None:
    """Block until ``status_show`` answers (used by the local stack and tests)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            portal.call("status_show")
            return
        except PortalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def portal_from_env(*, require_token: bool = True) -> Portal:
    """The portal configured by ``CKAN_URL`` and ``CKAN_API_TOKEN``.

    Raises:
        ConfigError: a variable is missing or the URL is unsafe.
    """
    import os

    url = os.environ.get("CKAN_URL")
    token = os.environ.get("CKAN_API_TOKEN")
    if not url:
        raise ConfigError("CKAN_URL is not set (e.g. http://127.0.0.1:5000)")
    if require_token and not token:
        raise ConfigError("CKAN_API_TOKEN is not set (an API token of the publishing user)")
    return Portal(url, token)
