"""#stayuptodata: every morning, datasets whose update is overdue are reported.

Each dataset's update frequency (`package.frequency`, the EU code the portal shows as
`dct:accrualPeriodicity`) gives the interval between updates. The next update is due one
interval after the last change (the last publish that changed content); it is overdue
once a grace period (10 % of the interval, 1 to 14 days) has passed as well. `IRREG`,
`UNKNOWN`, `NEVER` and `OTHER` have no due date.

The maintainer of an overdue dataset (`package.maintainer_email`) gets a German mail, at
most once a week for the same missing update; the team (`HARVEST_TEAM_EMAIL`) gets a
summary with every overdue dataset on those days. `harvest status` shows the same
assessment for all datasets.
"""

from harvest_airflow.factory import build_freshness_dag

harvest_freshness = build_freshness_dag(doc=__doc__)
