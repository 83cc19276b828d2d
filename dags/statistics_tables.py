"""Statistics tables: statistical yearbook, district profiles and department reports.

One DAG per registry entry of the `statistics_tables` family (statistics office:
households, district areas, population forecast, district profiles; fire brigade:
annual report tables). The departments deliver print layouts as CSV or Excel; the
pipeline reads them with the layout options of the registry entry (headings, signs
such as `x`/`.`/`-` kept as an explicit status, footnote and summary rows dropped,
wide tables turned into long ones, confidentiality rules applied), validates with the
dataset's Great Expectations suite and upserts the CSV and JSON resources into CKAN.
"""

from harvest_airflow.factory import build_family_dags

build_family_dags("statistics_tables", globals(), doc=__doc__)
