"""The hostile and broken input corpus through ``harvest publish`` against the real CKAN.

``CKAN_URL`` points at a recording proxy in front of the session's CKAN: for every case
the exit code is 1 or 2 with its German reason, and the proxy sees **zero** requests,
not even a read, so nothing can have been published. A valid delivery through the
same kind of proxy does reach CKAN (the proxy is not simply bypassed). Cases run
in-process (typer's runner); a few also as a real subprocess.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus import harness
from tests.corpus.build import CASES, CONTROLS, FILES, Case
from tests.integration.faultproxy import FaultProxy

SUBPROCESS_CASES = ["geo-zip-bomb-ratio", "st-xlsx-xxe", "fn-mixed-utf8-cp1252"]


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return harness.build_large(tmp_path_factory.mktemp("corpus-large"))


def _env(proxy: FaultProxy, token: str, work: Path) -> dict[str, str]:
    return {"CKAN_URL": proxy.url, "CKAN_API_TOKEN": token, "HARVEST_WORK_DIR": str(work)}


def _publish(case: Case, large: Path, portal_stack, tmp_path: Path, run) -> None:
    path = harness.input_path(case, large)
    before = harness.snapshot(path)
    with FaultProxy(portal_stack.url) as proxy:
        outcome = run(
            ["publish", case.dataset, str(path)],
            env=_env(proxy, portal_stack.editor_token, tmp_path / "work"),
        )
        seen = list(proxy.seen)
    harness.assert_refused(case, outcome)
    assert seen == [], f"{case.name}: the portal was called: {seen}"
    assert harness.snapshot(path) == before
    assert portal_stack.editor_token not in outcome.output


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_publish_refuses_without_a_single_portal_request(
    case: Case, large: Path, portal_stack, tmp_path: Path
) -> None:
    _publish(case, large, portal_stack, tmp_path, harness.run_in_process)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_publish_refuses_as_a_subprocess(name: str, large: Path, portal_stack, tmp_path) -> None:
    case = next(c for c in CASES if c.name == name)
    _publish(case, large, portal_stack, tmp_path, harness.run_subprocess)


def test_a_valid_delivery_through_the_proxy_reaches_ckan(
    portal_stack, private_registry, tmp_path: Path
) -> None:
    control = next(c for c in CONTROLS if c.name == "ok-sirens-kml")
    dataset_id, env = private_registry(control.dataset)
    path = FILES / control.name / control.file_name
    with FaultProxy(portal_stack.url) as proxy:
        outcome = harness.run_in_process(
            ["publish", dataset_id, str(path)],
            env={**env, "CKAN_URL": proxy.url, "CKAN_API_TOKEN": portal_stack.editor_token},
        )
        seen = list(proxy.seen)
    assert outcome.exception is None
    assert outcome.exit_code == 0, outcome.output
    assert any("package_show" in request for _, request, _ in seen)
    assert any("resource_create" in request for _, request, _ in seen)
