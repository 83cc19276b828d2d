"""Provision and run CKAN 2.12 for the local stack.

CKAN gets its own virtualenv (its pins clash with Airflow's), by default in
``<project>/.stack/ckan-venv`` and shared by every stack instance (demo and tests). The other
files of an instance live in its stack directory: ``ckan.ini``, ``ckan.log``, ``ckan.pid``,
``storage/`` and ``credentials.json`` (mode 0600).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ckanapi

from devstack import DEFAULT_STACK_DIR, PROJECT_ROOT
from devstack.errors import StackError
from devstack.processes import (
    LOOPBACK,
    file_lock,
    owned_pid,
    port_open,
    spawn,
    terminate_group,
    wait_http_ok,
    write_pid,
)

log = logging.getLogger(__name__)

CKAN_VERSION = "2.12.0"
DEFAULT_VENV = DEFAULT_STACK_DIR / "ckan-venv"
UV = PROJECT_ROOT / ".tools" / "bin" / "uv"

SYSADMIN_USER = "harvest_admin"
EDITOR_USER = "harvest_editor"
API_TIMEOUT = 30  # seconds, for every CKAN API call made here
CLI_TIMEOUT = 300  # seconds, for CKAN command-line calls (db init is the slowest, ~3 s)


# --------------------------------------------------------------------------- the virtualenv


def _uv() -> str:
    if UV.exists():
        return str(UV)
    found = shutil.which("uv")
    if found is None:
        raise StackError(f"uv is needed to build CKAN's virtualenv: not found at {UV} nor on PATH")
    return found


def _ensure_build_tools() -> None:
    """psycopg2 (pinned by CKAN) is built from source: it needs gcc and libpq's headers."""
    missing = [tool for tool in ("pg_config", "gcc") if shutil.which(tool) is None]
    if not missing:
        return
    packages = ["libpq-dev" if tool == "pg_config" else "gcc" for tool in missing]
    if os.geteuid() != 0:
        raise StackError(
            f"building CKAN's psycopg2 needs {', '.join(missing)}; install them with "
            f"'sudo apt-get install --no-upgrade {' '.join(packages)}' and try again"
        )
    log.info("installing %s (needed to build psycopg2)", " ".join(packages))
    # --no-upgrade: upgrading a running PostgreSQL's packages breaks its new backends.
    command = ["apt-get", "install", "-y", "--no-upgrade", *packages]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(command, env=env, capture_output=True, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=900)
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise StackError(
                f"apt-get could not install {' '.join(packages)}:\n{result.stderr[-2000:]}"
            )


def ensure_ckan_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Create CKAN's virtualenv with ``ckan[requirements]`` unless it is already there.

    Idempotent and safe to call from concurrent processes (a file lock serialises builds;
    a marker file records a completed install of :data:`CKAN_VERSION`).

    Returns:
        The virtualenv directory.

    Raises:
        StackError: if the build tools are missing or the install fails.
    """
    venv = venv.resolve()
    marker = venv / f".devstack-ckan-{CKAN_VERSION}"
    if marker.exists() and (venv / "bin" / "ckan").exists():
        return venv
    with file_lock(venv.parent / f".{venv.name}.lock", "building CKAN's virtualenv"):
        if marker.exists() and (venv / "bin" / "ckan").exists():
            return venv
        _ensure_build_tools()
        log.info("building CKAN %s virtualenv in %s (about a minute)", CKAN_VERSION, venv)
        uv = _uv()
        # Bytecode compiled at install time: PYTHONDONTWRITEBYTECODE=1 is set on these
        # machines, and without .pyc files every CKAN start recompiles everything.
        env = {**os.environ, "UV_COMPILE_BYTECODE": "1"}
        env.pop("VIRTUAL_ENV", None)
        steps = [
            [uv, "venv", "--clear", "--quiet", "-p", "3.11", str(venv)],
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "-p",
                str(venv / "bin" / "python"),
                f"ckan[requirements]=={CKAN_VERSION}",
            ],
        ]
        for step in steps:
            result = subprocess.run(step, env=env, capture_output=True, text=True, timeout=1800)
            if result.returncode != 0:
                raise StackError(
                    f"building CKAN's virtualenv failed ({' '.join(step[:3])} ...):\n"
                    f"{(result.stdout + result.stderr)[-3000:]}"
                )
        marker.write_text(f"ckan[requirements]=={CKAN_VERSION}\n")
    return venv


def _clean_env() -> dict[str, str]:
    # CKAN lets CKAN_* variables (CKAN_SQLALCHEMY_URL, CKAN_SOLR_URL, CKAN_INI, ...) override
    # the ini file; a deployment's settings in the environment must not leak in here.
    return {k: v for k, v in os.environ.items() if not k.startswith("CKAN")}


def run_cli(venv: Path, ini: Path, *args: str, timeout: float = CLI_TIMEOUT) -> str:
    """Run ``ckan -c <ini> <args>`` and return its standard output.

    Raises:
        StackError: on a non-zero exit, with the tail of the output.
    """
    command = [str(venv / "bin" / "ckan"), "-c", str(ini), *args]
    result = subprocess.run(
        command, env=_clean_env(), cwd=ini.parent, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise StackError(
            f"'ckan {' '.join(args)}' failed (exit {result.returncode}):\n"
            + "\n".join(output[-30:])
        )
    return result.stdout


# --------------------------------------------------------------------------- configuration


def set_ini_options(ini: Path, options: Mapping[str, str], section: str = "app:main") -> bool:
    """Set ``key = value`` lines in one section of an ini file, keeping comments and order.

    Values are written verbatim except ``%``, which is doubled: CKAN's config loader uses
    configparser interpolation (``%(here)s``), and database URLs can contain ``%2F``.

    Returns:
        Whether the file changed.
    """
    text = ini.read_text(encoding="utf-8")
    lines = text.splitlines()
    wanted = {k: v.replace("%", "%%") for k, v in options.items()}
    current: str | None = None
    end_of_section = len(lines)
    seen: set[str] = set()
    for index, line in enumerate(lines):
        header = re.match(r"^\s*\[([^\]]+)\]", line)
        if header:
            if current == section:
                end_of_section = index
            current = header.group(1)
            continue
        match = re.match(r"^([^#;\s][^=]*?)\s*=", line)
        if current == section and match and match.group(1) in wanted:
            key = match.group(1)
            lines[index] = f"{key} = {wanted[key]}"
            seen.add(key)
    missing = [f"{k} = {v}" for k, v in wanted.items() if k not in seen]
    if missing:
        while end_of_section > 0 and not lines[end_of_section - 1].strip():
            end_of_section -= 1
        lines[end_of_section:end_of_section] = missing
    updated = "\n".join(lines) + "\n"
    if updated == text:
        return False
    ini.write_text(updated, encoding="utf-8")
    return True


def redis_url() -> str | None:
    """A Redis URL if a server answers on 127.0.0.1:6379 (CKAN's job queue; optional)."""
    # Database 1: database 0 is the likeliest to be used by the pipeline's own Celery setup.
    return f"redis://{LOOPBACK}:6379/1" if port_open(6379) else None


def write_config(
    venv: Path,
    ini: Path,
    *,
    db_url: str,
    port: int,
    solr_url: str,
    site_id: str,
    extra: Mapping[str, str] | None = None,
) -> bool:
    """Create ``ini`` (``ckan generate config``) if missing and set the stack's options.

    Args:
        venv: CKAN's virtualenv.
        ini: the config file to write.
        db_url: ``sqlalchemy.url``.
        port: the port CKAN serves on (``ckan.site_url`` is ``http://127.0.0.1:<port>``).
        solr_url: the Solr (stand-in) core URL.
        site_id: ``ckan.site_id``; keeps search documents and job queues of instances apart.
        extra: further options, applied last.

    Returns:
        Whether the file changed (a running CKAN must then be restarted).
    """
    if "%" in db_url:
        # CKAN passes sqlalchemy.url to Alembic's config parser unescaped: '%' breaks
        # 'ckan db init' ("invalid interpolation syntax"), however it is quoted in the ini.
        raise StackError(
            "the database URL contains '%' (a URL-encoded character), which CKAN's "
            "migrations cannot handle; use a password without special characters"
        )
    if not ini.exists():
        ini.parent.mkdir(parents=True, exist_ok=True)
        command = [str(venv / "bin" / "ckan"), "generate", "config", str(ini)]
        result = subprocess.run(
            command, env=_clean_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT
        )
        if result.returncode != 0 or not ini.exists():
            raise StackError(
                f"'ckan generate config' failed:\n{(result.stdout + result.stderr)[-2000:]}"
            )
    storage = ini.parent / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    options = {
        "sqlalchemy.url": db_url,
        "ckan.site_url": f"http://{LOOPBACK}:{port}",
        "ckan.site_id": site_id,
        "ckan.site_title": "Open Data Duesseldorf (local stack)",
        "solr_url": solr_url,
        "ckan.storage_path": str(storage),
        # The pipeline uploads whole tables; CKAN's default cap is 10 MB.
        "ckan.max_resource_size": "100",
        "ckan.devserver.host": LOOPBACK,
        "ckan.devserver.port": str(port),
        # Concurrent publish tasks must not queue behind each other.
        "ckan.devserver.threaded": "true",
        # Anonymous users read public datasets (CKAN's default); only the sysadmin manages
        # organizations and groups, as on the real portal.
        "ckan.auth.anon_create_dataset": "false",
        "ckan.auth.create_unowned_dataset": "false",
        "ckan.auth.user_create_organizations": "false",
        "ckan.auth.user_create_groups": "false",
        "ckan.auth.user_delete_organizations": "false",
        "ckan.auth.user_delete_groups": "false",
    }
    redis = redis_url()
    if redis:
        options["ckan.redis.url"] = redis
    options.update(extra or {})
    changed = set_ini_options(ini, options)
    ini.chmod(0o600)  # it holds SECRET_KEY, which signs the API tokens
    return changed


def init_db(venv: Path, ini: Path) -> None:
    """``ckan db init``: create CKAN's tables (runs all migrations)."""
    log.info("initialising CKAN's database")
    run_cli(venv, ini, "db", "init")


def rebuild_search_index(venv: Path, ini: Path) -> None:
    """``ckan search-index rebuild``: re-index every dataset from the database."""
    log.info("rebuilding the search index from the database")
    run_cli(venv, ini, "search-index", "rebuild", "--quiet")


# --------------------------------------------------------------------------- users and tokens


@dataclass(frozen=True)
class Credentials:
    """The stack's users, their passwords (for the web UI) and API tokens."""

    sysadmin_user: str
    sysadmin_password: str
    sysadmin_token: str
    editor_user: str
    editor_password: str
    editor_token: str

    def __repr__(self) -> str:
        # Never show passwords or tokens, e.g. in a test failure report.
        return (
            f"Credentials(sysadmin_user={self.sysadmin_user!r}, editor_user={self.editor_user!r})"
        )

    def save(self, path: Path) -> None:
        """Write the credentials as JSON, readable by the owner only (0600)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.__dict__, handle, indent=2)
        path.chmod(0o600)  # O_CREAT's mode does not apply to an existing file

    @classmethod
    def load(cls, path: Path) -> Credentials | None:
        """Read saved credentials; ``None`` if the file is missing or incomplete."""
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


def token_valid(url: str, user: str, token: str) -> bool:
    """Whether ``token`` authenticates ``user`` (``api_token_list`` answers 403 otherwise)."""
    client = ckanapi.RemoteCKAN(url, apikey=token, user_agent="devstack")
    try:
        client.call_action(
            "api_token_list", {"user_id": user}, requests_kwargs={"timeout": API_TIMEOUT}
        )
    except (ckanapi.NotAuthorized, ckanapi.NotFound):
        return False
    return True


def ensure_users(venv: Path, ini: Path, previous: Credentials | None) -> Credentials:
    """Create (or repair) the sysadmin and the editor user and give each a valid token.

    Passwords and still-valid tokens of ``previous`` are kept.
    """
    sysadmin_password = previous.sysadmin_password if previous else secrets.token_urlsafe(12)
    editor_password = previous.editor_password if previous else secrets.token_urlsafe(12)
    request = {
        "users": [
            {
                "name": SYSADMIN_USER,
                "email": f"{SYSADMIN_USER}@localhost.invalid",
                "sysadmin": True,
                "password": sysadmin_password,
                "token": previous.sysadmin_token if previous else None,
                "fullname": "Harvest administrator (local stack)",
            },
            {
                "name": EDITOR_USER,
                "email": f"{EDITOR_USER}@localhost.invalid",
                "sysadmin": False,
                "password": editor_password,
                "token": previous.editor_token if previous else None,
                "fullname": "Harvest pipeline (local stack)",
            },
        ]
    }
    script = Path(__file__).with_name("_ckan_bootstrap.py")
    result = subprocess.run(
        # -P: do not put the script's directory (devstack/, with its ckan.py) on sys.path.
        [str(venv / "bin" / "python"), "-P", str(script), str(ini)],
        input=json.dumps(request),
        env=_clean_env(),
        cwd=ini.parent,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("DEVSTACK-RESULT ")]
    if result.returncode != 0 or not lines:
        raise StackError(
            "creating CKAN's users failed:\n" + "\n".join(result.stderr.splitlines()[-30:])
        )
    tokens = json.loads(lines[-1].split(" ", 1)[1])
    return Credentials(
        SYSADMIN_USER,
        sysadmin_password,
        tokens[SYSADMIN_USER],
        EDITOR_USER,
        editor_password,
        tokens[EDITOR_USER],
    )


def ensure_organization(
    url: str, sysadmin_token: str, name: str, title: str, editors: Sequence[str] = ()
) -> dict[str, Any]:
    """Create organization ``name`` if missing and make ``editors`` its ``editor`` members.

    Args:
        url: CKAN's base URL.
        sysadmin_token: API token of a sysadmin.
        name: the organization's URL name.
        title: its display title (used only when creating it).
        editors: user names to add with the role ``editor`` (existing memberships of these
            users are set to ``editor``).

    Returns:
        The organization as ``organization_show`` returns it.

    Raises:
        ckanapi.CKANAPIError: if CKAN refuses (e.g. ``ValidationError`` for a bad name).
    """
    client = ckanapi.RemoteCKAN(url, apikey=sysadmin_token, user_agent="devstack")
    timeout = {"timeout": API_TIMEOUT}
    try:
        organization = client.call_action(
            "organization_show", {"id": name}, requests_kwargs=timeout
        )
    except ckanapi.NotFound:
        organization = client.call_action(
            "organization_create", {"name": name, "title": title}, requests_kwargs=timeout
        )
        log.info("created organization %s", name)
    for editor in editors:
        client.call_action(
            "organization_member_create",
            {"id": name, "username": editor, "role": "editor"},
            requests_kwargs=timeout,
        )
    return dict(organization)


# --------------------------------------------------------------------------- the server


def ckan_pid(stack_dir: Path) -> int | None:
    """PID of the CKAN server of ``stack_dir`` if it runs."""
    return owned_pid(stack_dir / "ckan.pid", "ckan", str(stack_dir / "ckan.ini"))


def start_server(
    venv: Path, ini: Path, port: int, *, timeout: float = 120.0
) -> subprocess.Popen[bytes]:
    """Start ``ckan run`` on 127.0.0.1:``port`` and wait until ``status_show`` answers.

    The PID goes to ``ckan.pid`` and the output to ``ckan.log`` next to ``ini``.

    Raises:
        StackError: if the port is taken or CKAN does not come up (with the log tail).
    """
    stack_dir = ini.parent
    if port_open(port):
        raise StackError(f"cannot start CKAN: port {port} on {LOOPBACK} is already in use")
    log_file = stack_dir / "ckan.log"
    command = [
        str(venv / "bin" / "ckan"),
        "-c",
        str(ini),
        "run",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--disable-reloader",
    ]
    process = spawn(command, log_file, cwd=stack_dir, env=_clean_env())
    write_pid(stack_dir / "ckan.pid", process.pid)
    try:
        wait_http_ok(
            f"http://{LOOPBACK}:{port}/api/3/action/status_show",
            timeout=timeout,
            what="CKAN",
            log_file=log_file,
            alive=lambda: process.poll() is None,
        )
    except StackError:
        terminate_group(process.pid, grace=5)
        process.wait(timeout=10)
        raise
    log.info("CKAN serves http://%s:%d (pid %d, log %s)", LOOPBACK, port, process.pid, log_file)
    return process


def stop_server(stack_dir: Path, *, hard: bool = False, grace: float = 10.0) -> bool:
    """Stop the CKAN server of ``stack_dir``: SIGTERM, then SIGKILL after ``grace`` seconds.

    Args:
        stack_dir: the instance directory (its ``ckan.pid`` names the process).
        hard: SIGKILL at once, as in a crash.
        grace: seconds between SIGTERM and SIGKILL.

    Returns:
        Whether a server was running.
    """
    pid = ckan_pid(stack_dir)
    if pid is None:
        return False
    terminate_group(pid, grace, hard=hard)
    log.info("stopped CKAN (pid %d)", pid)
    return True
