"""Drop folders: files dropped into a folder that belongs to no dataset.

Each dataset's DAG watches its own folder `<HARVEST_DROPZONE>/<dataset-id>/` (an
asset watcher in the triggerer). This DAG looks every 15 minutes at the other folders
under the root: a file there (a typo in the folder name, a dataset not yet registered)
is moved to that folder's `abgelehnt/` with a German report, and the open data team
gets a mail.
"""

from harvest_airflow.factory import build_dropzone_dag

harvest_dropzone = build_dropzone_dag(doc=__doc__)
