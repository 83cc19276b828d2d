"""``harvest``: the command line of the pipeline (a contract: scripts depend on it).

Exit codes: 0 success · 1 invalid data or metadata (DCAT-AP.de) · 2 unusable input
(unknown dataset, unreadable or undecodable file) · 3 portal error · 4 configuration error.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from etl.errors import (
    ConfigError,
    HarvestError,
    PortalError,
    Problem,
    ValidationFailed,
    ValidationReport,
)
from etl.registry import Dataset, get_dataset, load_registry

if TYPE_CHECKING:
    from rdflib import Graph

    from etl.portal import Portal

app = typer.Typer(
    name="harvest",
    help="Harvest department data into the Düsseldorf open data portal (CKAN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# reports show found values verbatim: with emoji codes on, ":x:" in a value printed as ❌
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


@contextmanager
def _errors_to_exit_codes() -> Iterator[None]:
    """Expected failures become a message and an exit code; bugs keep their traceback."""
    try:
        yield
    except ValidationFailed as exc:
        print_report(exc.report, console=err)
        err.print(f"[bold red]✗ {exc.message}[/]")
        raise typer.Exit(exc.exit_code) from None
    except HarvestError as exc:
        # messages carry file names and zip entry names chosen by whoever sent the
        # file: "[/]" in them would be rich markup (and crash), "[Entwurf]" would vanish
        err.print(f"[bold red]✗ {type(exc).__name__}:[/] {escape(exc.message)}", markup=True)
        raise typer.Exit(exc.exit_code) from None


@contextmanager
def _progress(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr for long steps (plain lines when stderr is not a terminal)."""
    if not enabled or not err.is_terminal:
        yield lambda message: err.print(f"… {message}", style="dim")
        return
    with err.status("working") as status:
        yield lambda message: status.update(message)


def _problem_line(problem: Problem) -> str:
    where = problem.file or ""
    if problem.row is not None:
        where += f", Zeile {problem.row}"
    if problem.column:
        where += f", Spalte {problem.column}"
    text = f"{where}: {problem.message}" if where else problem.message
    if problem.found is not None:
        text += f" – gefunden: {problem.found!r}"
    if problem.expected and problem.expected not in (problem.message, problem.check):
        text += f" – erwartet: {problem.expected}"
    return text


def print_report(report: ValidationReport, *, console: Console, limit: int = 10) -> None:
    """The validation report, grouped by check, with example rows."""
    console.print(f"[bold]Prüfbericht {report.dataset}[/] ({report.rows:,} Zeilen)")
    by_check: dict[str, list[Problem]] = {}
    for problem in report.problems:
        by_check.setdefault(problem.check, []).append(problem)
    for check in report.checks:
        mark = "[green]✓[/]" if check["success"] else "[red]✗[/]"
        console.print(f"  {mark} {check['check']}", markup=True)
        for problem in by_check.pop(check["check"], [])[:limit]:
            console.print(f"      {_problem_line(problem)}", markup=False)
    for check_name, problems in by_check.items():
        console.print(f"  [red]✗[/] {check_name}", markup=True)
        for problem in problems[:limit]:
            console.print(f"      {_problem_line(problem)}", markup=False)


@app.command("list")
def list_datasets() -> None:
    """List the registered datasets."""
    with _errors_to_exit_codes():
        table = Table("id", "family", "organization", "schedule", "release", "title")
        for dataset in load_registry().values():
            table.add_row(
                dataset.id,
                dataset.family,
                dataset.organization.name,
                dataset.schedule or "on demand",
                dataset.release,
                dataset.package.title,
            )
        out.print(table)


FilesArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Input files (default: the registry's source paths)."),
]


@app.command()
def check(
    dataset: Annotated[str, typer.Argument(help="Dataset id, see `harvest list`.")],
    files: FilesArg = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the normalized output files.")
    ] = Path("out"),
) -> None:
    """Extract, transform and validate FILES; write the files that would be published.

    No portal access. Exit 0: valid, outputs written under --out. Exit 1: invalid
    data (a report names file, row, column and rule). Exit 2: unknown dataset or
    unreadable file.
    """
    from etl import pipeline

    with _errors_to_exit_codes():
        entry = get_dataset(dataset)
        paths = pipeline.resolve_inputs(entry, files)
        with _progress() as say:
            outcome = pipeline.check(entry, paths, out_dir, progress=say)
        out.print(f"✓ {entry.id}: {outcome.report.rows:,} rows valid")
        for file in outcome.files:
            out.print(
                f"  {file.path}  {file.size:>10,} bytes  sha256:{file.sha256[:12]}…", markup=False
            )


@app.command()
def publish(
    dataset: Annotated[str, typer.Argument(help="Dataset id, see `harvest list`.")],
    files: FilesArg = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; write nothing to the portal.")
    ] = False,
) -> None:
    """Run the full pipeline on FILES and publish to the portal.

    The portal is CKAN_URL with the token CKAN_API_TOKEN. Prints per resource
    created / updated / unchanged. Without FILES: the dataset's current input set if
    it holds files dropped by the department (drop folder), else the registry's
    source paths.
    """
    import tempfile

    from etl import pipeline
    from etl.ledger import Ledger
    from etl.portal import PublishIncomplete, portal_from_env

    with _errors_to_exit_codes():
        entry = get_dataset(dataset)
        if files:  # unusable files are reported before the portal configuration
            paths, inputs = pipeline.run_inputs(entry, files)
        portal = portal_from_env(require_token=not dry_run)
        ledger = None if dry_run else Ledger()
        if not files:
            # the current input set if the department dropped files, else the
            # registry's source paths (see pipeline.resolve_inputs); a dry run reads
            # the ledger for that but records nothing
            paths, inputs = pipeline.run_inputs(entry, None, ledger=ledger or Ledger())
        run_id = pipeline.new_run_id()
        with tempfile.TemporaryDirectory(prefix="harvest-") as tmp, _progress() as say:
            try:
                outcome = pipeline.check(entry, paths, Path(tmp), progress=say)
            except HarvestError as exc:
                if ledger is not None:
                    pipeline.record_rejection(ledger, entry, run_id, inputs, exc)
                raise
            if ledger is None:
                from etl.release import effective

                result = pipeline.publish(
                    effective(entry, Ledger()),
                    outcome.files,
                    portal=portal,
                    dry_run=True,
                    facts=outcome.facts,
                    progress=say,
                )
            else:
                try:
                    result = pipeline.publish_recorded(
                        entry,
                        outcome.files,
                        portal=portal,
                        ledger=ledger,
                        run_id=run_id,
                        inputs=inputs,
                        validation=pipeline.validation_summary(outcome.report),
                        facts=outcome.facts,
                        progress=say,
                    )
                except PublishIncomplete as exc:
                    _print_result(exc.result.as_dict())
                    raise
        _print_result(result.as_dict())


@app.command("sync")
def sync_command(
    datasets: Annotated[
        list[str] | None,
        typer.Argument(help="Dataset ids (default: every dataset in the registry)."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, max=16, help="Datasets published at the same time."),
    ] = 4,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; write nothing to the portal.")
    ] = False,
) -> None:
    """Run the pipeline for many datasets and publish them together.

    Each dataset is read, validated and rendered as by `harvest publish`; then one
    search reads the current state of all of them on the portal and only what
    changed is written, several datasets at a time. Unchanged data costs one read
    call per 500 datasets and no write. A dataset that fails does not stop the
    others; the exit code is then that of the worst failure.
    """
    import tempfile

    from etl import pipeline
    from etl.ledger import Ledger
    from etl.portal import PublishResult, portal_from_env
    from etl.sync import SyncItem, sync

    with _errors_to_exit_codes():
        registry = load_registry()
        entries = [get_dataset(d) for d in datasets] if datasets else list(registry.values())
        portal = portal_from_env(require_token=not dry_run)
        ledger = Ledger()
        run_id = pipeline.new_run_id("sync")
        failures: dict[str, HarvestError] = {}
        items: list[SyncItem] = []
        records: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}
        with tempfile.TemporaryDirectory(prefix="harvest-sync-") as tmp, _progress() as say:
            for number, entry in enumerate(entries, 1):
                say(f"[{number}/{len(entries)}] checking {entry.id}")
                inputs: list[dict[str, Any]] = []
                try:
                    paths, inputs = pipeline.run_inputs(entry, None, ledger=ledger)
                    outcome = pipeline.check(entry, paths, Path(tmp) / entry.id)
                except HarvestError as exc:
                    failures[entry.id] = exc
                    if not dry_run:
                        pipeline.record_rejection(ledger, entry, run_id, inputs, exc)
                    continue
                items.append(SyncItem(entry, outcome.files, outcome.facts))
                records[entry.id] = (inputs, pipeline.validation_summary(outcome.report))

            def recorded(
                dataset: Dataset, files: list[Any], *, portal: Portal, **kwargs: Any
            ) -> PublishResult:
                if kwargs.pop("dry_run", False):
                    from etl.release import effective

                    return pipeline.publish(
                        effective(dataset, ledger), files, portal=portal, dry_run=True, **kwargs
                    )
                inputs, validation = records[dataset.id]
                return pipeline.publish_recorded(
                    dataset,
                    files,
                    portal=portal,
                    ledger=ledger,
                    run_id=run_id,
                    inputs=inputs,
                    validation=validation,
                    **kwargs,
                )

            result = sync(
                items,
                portal=portal,
                publisher=recorded,
                workers=workers,
                dry_run=dry_run,
                progress=say,
            )
        table = Table("dataset", "package", "created", "updated", "unchanged", "failed")
        for published in result.results:
            counts = {a: 0 for a in ("created", "updated", "unchanged", "failed")}
            for resource in published.resources:
                counts[resource.action] += 1
            table.add_row(
                published.dataset, published.package_action, *(str(n) for n in counts.values())
            )
        out.print(table)
        out.print(
            f"{'plan (dry run): ' if dry_run else ''}{len(result.results)} dataset(s) "
            f"published, {sum(1 for r in result.results if r.changed)} changed; "
            f"{result.read_calls} read / {result.write_calls} write calls, "
            f"{result.bytes_uploaded:,} bytes uploaded in {result.seconds:.1f} s",
            style="dim",
        )
        for dataset_id, message in result.failures.items():
            failures[dataset_id] = PortalError(message)
        for dataset_id, error in sorted(failures.items()):
            err.print(f"[bold red]✗ {dataset_id}:[/] {escape(error.message)}", markup=True)
        if failures:
            raise typer.Exit(max(error.exit_code for error in failures.values()))


@app.command()
def history(
    dataset: Annotated[str, typer.Argument(help="Dataset id, see `harvest list`.")],
    limit: Annotated[int, typer.Option(help="How many attempts to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the run ledger of DATASET: every publish attempt, newest first."""
    import json

    from etl.ledger import Ledger, attempt_as_dict

    with _errors_to_exit_codes():
        entry = get_dataset(dataset)
        attempts = Ledger().history(entry.id, limit=limit)
        if as_json:
            out.print_json(json.dumps([attempt_as_dict(a) for a in attempts]))
            return
        if not attempts:
            out.print(f"{entry.id}: no publish attempts recorded yet")
            return
        table = Table("id", "started (UTC)", "kind", "status", "run", "inputs", "outputs", "error")
        for attempt in attempts:
            actions: dict[str, int] = {}
            for output in attempt.outputs:
                actions[output.action] = actions.get(output.action, 0) + 1
            kind = attempt.kind + (
                f" ← #{attempt.source_attempt}" if attempt.source_attempt else ""
            )
            table.add_row(
                str(attempt.id),
                attempt.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                kind,
                attempt.status,
                attempt.run_id,
                ", ".join(str(i.get("name")) for i in attempt.inputs),
                ", ".join(f"{n} {a}" for a, n in sorted(actions.items())),
                (attempt.error or "")[:120],
            )
        out.print(table)


@app.command()
def rollback(
    dataset: Annotated[str, typer.Argument(help="Dataset id, see `harvest list`.")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Ledger id or run id to return to (see `harvest history`)."),
    ] = None,
) -> None:
    """Republish the previous version of every resource of DATASET from the archive.

    Without --to: the newest successful publish whose files differ from the current
    ones. Recorded in the ledger as kind `rollback`.
    """
    from etl import pipeline
    from etl.ledger import Ledger
    from etl.portal import portal_from_env

    with _errors_to_exit_codes():
        entry = get_dataset(dataset)
        portal = portal_from_env()
        with _progress() as say:
            target, result = pipeline.rollback(
                entry, portal=portal, ledger=Ledger(), to=to, progress=say
            )
        out.print(f"rolled back {entry.id} to attempt #{target.id} ({target.run_id})")
        _print_result(result.as_dict())


@app.command("dropzone")
def dropzone_command(
    once: Annotated[
        bool, typer.Option("--once", help="Process what is in the drop folders now, then exit.")
    ] = False,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Root of the drop folders (default: HARVEST_DROPZONE)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Validate and file the dropped files; write nothing to the portal or the "
            "ledger, send no mail.",
        ),
    ] = False,
) -> None:
    """Process the watched drop folders <root>/<dataset-id>/ once.

    Claims every complete file, runs it through its dataset's pipeline, publishes
    it and files it under archiv/, or files it under abgelehnt/ with a German report;
    the maintainer is notified by mail (HARVEST_SMTP_*). Files left queued by an
    earlier run go first. Exit code: the highest of the files' outcomes (0 published,
    duplicate or nothing to do · 1 invalid data · 2 unusable file, wrong type or
    unknown folder · 3 portal error, file stays queued · 4 configuration or storage).
    """
    from etl import dropzone
    from etl.errors import ConfigError
    from etl.ledger import Ledger
    from etl.notify import Notifier
    from etl.portal import portal_from_env

    with _errors_to_exit_codes():
        if not once:
            raise ConfigError(
                "harvest dropzone needs --once: watching continuously is the job of the "
                "Airflow triggerer (see README, Drop folders)"
            )
        settings = dropzone.Settings.from_env(root)
        portal: Portal | None
        if dry_run:
            try:
                portal = portal_from_env(require_token=False)
            except ConfigError:
                portal = None  # a dry run without portal still validates and files
        else:
            portal = portal_from_env()
        with _progress() as say:
            result = dropzone.run_once(
                settings,
                load_registry(),
                ledger=Ledger(),
                portal=portal,
                notifier=Notifier(enabled=not dry_run),
                dry_run=dry_run,
                progress=say,
            )
        table = Table("dataset", "file", "outcome", "filed as", "notified")
        for outcome in result.outcomes:
            table.add_row(
                outcome.dataset,
                outcome.file,
                f"{outcome.status}: {outcome.message}",
                Path(outcome.filed_as).name if outcome.filed_as else "",
                ", ".join(outcome.notified),
            )
        if result.outcomes:
            out.print(table)
        else:
            out.print(f"nothing to do in {settings.root}")
        for path in result.waiting:
            out.print(f"waiting (still being written): {path}")
        if result.exit_code:
            raise typer.Exit(result.exit_code)


@app.command("release")
def release_command(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show which dataset would go public and its announcement draft; change "
            "nothing, send no mail.",
        ),
    ] = False,
) -> None:
    """Make the next ready dataset of the release queue public (the Wednesday step).

    The same function the DAG harvest_release runs every Wednesday morning
    (#openwednesday): the next queued dataset whose latest validation passed and whose
    package is on the portal goes public; the release is recorded in the ledger and
    a German announcement draft is written to HARVEST_WORK_DIR/ankuendigungen/ (and
    mailed to the team if SMTP is configured). Datasets that are not ready are skipped
    with a reason. Exit 0 also when the queue is empty or nothing is ready.
    """
    from etl import release
    from etl.ledger import Ledger
    from etl.notify import Notifier
    from etl.portal import portal_from_env

    with _errors_to_exit_codes():
        # private packages are invisible without the token, so a dry run needs it too
        portal = portal_from_env()
        with portal:
            outcome = release.release_next(
                load_registry(),
                ledger=Ledger(),
                portal=portal,
                run_id=release.release_run_id(),
                dry_run=dry_run,
                notifier=Notifier(enabled=not dry_run),
            )
        for entry in outcome.skipped:
            out.print(f"skipped {entry.dataset}: {entry.reason}", markup=False)
        out.print(outcome.message, markup=False)
        if outcome.announcement:
            where = outcome.announcement_path or "not written (dry run)"
            out.print(f"\nannouncement draft ({where}):\n", markup=False)
            out.print(outcome.announcement, markup=False)
        if outcome.notified:
            out.print(f"mailed to {', '.join(outcome.notified)}", markup=False)


@app.command("releases")
def releases_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the release queue (in order, with readiness) and the release history.

    Readiness: the latest validation passed (newest finished attempt in the ledger
    succeeded) and the package is on the portal (CKAN_URL with CKAN_API_TOKEN; without
    CKAN_URL the portal is not checked).
    """
    import json
    import os

    from etl import release
    from etl.ledger import Ledger
    from etl.portal import portal_from_env

    with _errors_to_exit_codes():
        datasets = load_registry()
        ledger = Ledger()
        portal = portal_from_env(require_token=False) if os.environ.get("CKAN_URL") else None
        try:
            entries = release.queue(datasets, ledger=ledger, portal=portal)
        finally:
            if portal is not None:
                portal.close()
        history = ledger.releases()
        if as_json:
            out.print_json(
                json.dumps(
                    {
                        "queue": [e.as_dict() for e in entries],
                        "history": [r.as_dict() for r in history],
                    }
                )
            )
            return
        if entries:
            table = Table(
                "#", "dataset", "release_order", "queued since", "validated", "on portal", "ready"
            )
            for entry in entries:
                table.add_row(
                    str(entry.position),
                    entry.dataset,
                    str(entry.release_order or ""),
                    _local(entry.queued_since),
                    _yes_no(entry.validated),
                    _yes_no(entry.on_portal),
                    "yes" if entry.ready else f"no: {entry.reason}",
                )
            out.print("release queue (next first)")
            out.print(table)
        else:
            out.print("release queue: empty")
        if history:
            table = Table("released (Europe/Berlin)", "dataset", "status", "run", "announcement")
            for item in history:
                table.add_row(
                    _local(item.released_at or item.started_at),
                    item.dataset,
                    item.status + (f": {item.error[:100]}" if item.error else ""),
                    item.run_id,
                    item.announcement or "",
                )
            out.print("release history (newest first)")
            out.print(table)
        else:
            out.print("release history: none yet")


@app.command("status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Evaluate as of this time (ISO 8601, e.g. 2025-03-14T08:00; without offset: "
            "Europe/Berlin); default: now.",
        ),
    ] = None,
) -> None:
    """Per dataset: last run, last change, next due date and whether it is overdue.

    The due date follows the dataset's update frequency (package.frequency) from its
    last change (the last publish that changed content); IRREG, UNKNOWN, NEVER and
    OTHER have none. Overdue: past the due date plus the grace period. Exit 0.
    """
    import json

    from etl import freshness
    from etl.ledger import Ledger

    with _errors_to_exit_codes():
        now = _parse_moment(at) if at else dt.datetime.now(dt.UTC)
        states = freshness.assess_all(load_registry(), ledger=Ledger(), now=now)
        if as_json:
            out.print_json(
                json.dumps({"at": now.isoformat(), "datasets": [s.as_dict() for s in states]})
            )
            return
        table = Table("dataset", "frequency", "last run", "last change", "next due", "overdue")
        for state in states:
            last_run = (
                f"{_local(state.last_run_at)} {state.last_run_status}" if state.last_run_at else "–"
            )
            overdue = {
                "no_due_date": "– (no due date)",
                "never_changed": "– (never published)",
                "current": "no",
                "overdue": f"yes (since {_local(state.overdue_after)})",
            }[state.state]
            table.add_row(
                state.dataset,
                state.frequency,
                last_run,
                _local(state.last_change_at) or "never",
                _local(state.due_at) or "–",
                overdue,
            )
        out.print(table)
        overdue_count = sum(1 for s in states if s.overdue)
        out.print(
            f"{overdue_count} of {len(states)} dataset(s) overdue as of {_local(now)} "
            "(Europe/Berlin)"
        )


def _local(moment: dt.datetime | None) -> str:
    """A time as Europe/Berlin wall clock (``2025-03-14 06:05``); empty for None."""
    from zoneinfo import ZoneInfo

    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M")


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _parse_moment(text: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at {text!r} is no ISO 8601 time (e.g. 2025-03-14T08:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Europe/Berlin"))


def _print_result(result: dict[str, Any]) -> None:
    prefix = "plan (dry run): " if result["dry_run"] else ""
    out.print(f"{prefix}package {result['dataset']}: {result['package_action']}")
    for resource in result["resources"]:
        out.print(f"  {resource['resource']}: {resource['action']}")
    out.print(
        f"{result['dataset_url']}  ({result['reads']} read / {result['writes']} write calls, "
        f"{result['bytes_uploaded']:,} bytes uploaded)",
        style="dim",
    )


@app.command()
def catalog(
    out_file: Annotated[
        Path, typer.Option("--out", help="File to write the catalogue to.", dir_okay=False)
    ],
    rdf_format: Annotated[
        str, typer.Option("--format", help="turtle (default) or xml (RDF/XML).")
    ] = "turtle",
    validate: Annotated[
        bool,
        typer.Option(
            "--validate", help="Check the catalogue with the DCAT-AP.de 2.0 shapes (GovData)."
        ),
    ] = False,
    registry_only: Annotated[
        bool,
        typer.Option("--registry-only", help="Do not read the portal even if CKAN_URL is set."),
    ] = False,
) -> None:
    """Write the whole catalogue as DCAT-AP.de RDF (Turtle or RDF/XML).

    With CKAN_URL set and the portal reachable, distributions carry the portal's access
    and download URLs (read anonymously: the public view); otherwise the catalogue is
    built from the registry with landing pages under the configured base_url.
    --validate prints every violation in German and exits 1 if there is one.
    """
    from etl import dcat
    from etl.registry import load_portal_config

    with _errors_to_exit_codes():
        fmt = _rdf_format(rdf_format)
        datasets = _with_releases(load_registry())
        config = load_portal_config()
        portal = None if registry_only else _public_portal()
        try:
            build = dcat.build_catalog(datasets, config, portal=portal)
        finally:
            if portal is not None:
                portal.close()
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_bytes(dcat.serialize(build.graph, fmt))
        distributions = sum(len(r.distributions) for r in build.records)
        out.print(
            f"✓ {out_file}: {len(build.records)} dataset(s), {distributions} distribution(s), "
            f"{len(build.graph):,} triples (source: {build.source})"
        )
        for dataset_id, reason in build.skipped.items():
            err.print(f"  skipped {dataset_id}: {reason}", markup=False)
        if validate:
            _report_conformance(build.graph)


def _with_releases(datasets: dict[str, Dataset]) -> dict[str, Dataset]:
    """The registry with the ledger's releases applied: a released dataset is public
    although its registry entry may still say ``release: queued``."""
    from etl.ledger import Ledger
    from etl.release import apply_releases

    try:
        return apply_releases(datasets, Ledger())
    except ConfigError as exc:
        err.print(
            f"  run ledger not readable ({exc.message}); queued datasets are left out",
            markup=False,
        )
        return datasets


def _rdf_format(value: str) -> Literal["turtle", "xml"]:
    normalized = value.strip().lower()
    if normalized in ("turtle", "ttl"):
        return "turtle"
    if normalized in ("xml", "rdf", "rdfxml", "rdf/xml"):
        return "xml"
    raise ConfigError(f"--format {value!r}: use turtle or xml")


def _public_portal() -> Portal | None:
    """The portal of CKAN_URL, read without token; None if unset or unreachable."""
    import os

    from etl.portal import Portal

    url = os.environ.get("CKAN_URL")
    if not url:
        return None
    # a catalogue is the public view: never read with the publishing token
    portal = Portal(url, None, timeout=(5.0, 30.0), max_attempts=2, backoff_seconds=0.2)
    try:
        portal.call("status_show")
    except PortalError as exc:
        err.print(
            f"  portal not reachable ({exc.message}); catalogue from the registry only",
            markup=False,
        )
        portal.close()
        return None
    return portal


def _report_conformance(graph: Graph) -> None:
    from etl.conformance import check_graph

    report = check_graph(graph)
    for finding in report.violations:
        err.print(f"  ✗ {finding.line()}", markup=False)
    counts = (
        f"{len(report.violations)} Verstöße, {len(report.warnings)} Warnungen, "
        f"{len(report.findings) - len(report.violations) - len(report.warnings)} Hinweise"
    )
    if report.conforms:
        out.print(f"✓ DCAT-AP.de 2.0 (mit GovData-Konventionen): konform – {counts}")
        for finding in report.warnings:
            out.print(f"  ! {finding.line()}", markup=False, style="dim")
        return
    err.print(f"[bold red]✗ DCAT-AP.de 2.0 (mit GovData-Konventionen): {counts}[/]")
    raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    app()


if __name__ == "__main__":
    main()
