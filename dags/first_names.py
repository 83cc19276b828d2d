"""First names of newborns (registry office, Standesamt).

One DAG per registry entry of the `first_names` family. The office delivers per year
per-gender lists (`Name;Anzahl`) or ranked lists (`Vorname;geschlecht;position;Anzahl`);
the pipeline maps columns by header name, validates with the dataset's Great
Expectations suite and upserts the CSV and JSON resources into CKAN.
"""

from harvest_airflow.factory import build_family_dags

build_family_dags("first_names", globals(), doc=__doc__)
