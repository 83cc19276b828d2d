"""#openwednesday: every Wednesday morning the next queued dataset goes public.

Datasets registered with `release: queued` are built, validated and published like the
others but kept private on the portal. Every Wednesday at 08:00 (Europe/Berlin) this DAG
makes the next one public: the first in queue order (`release_order`, then the oldest
first successful build, then the id) whose latest validation passed and whose package is
on the portal. Datasets that are not ready are skipped with a reason in the log.

The release is recorded in the run ledger (later publishes keep the dataset public even
while the registry still says `queued`), and a German announcement draft (title, short
description, portal link, `#openwednesday`) is written to
`<HARVEST_WORK_DIR>/ankuendigungen/<date>_<id>.md`, shown in the task log and XCom and
mailed to the team (`HARVEST_TEAM_EMAIL`). An empty queue is logged, not an error.
Trigger with `{"dry_run": true}` to see what would happen. By hand: `harvest release`.
"""

from harvest_airflow.factory import build_release_dag

harvest_release = build_release_dag(doc=__doc__)
