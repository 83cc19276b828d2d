-- Databases of the deployment (run once by the postgres image on an empty volume).
-- Passwords come from the environment of the services; these roles use the
-- POSTGRES_* superuser's password only for bootstrapping and must be changed.
CREATE DATABASE airflow;
CREATE DATABASE ckan;
CREATE DATABASE ckan_datastore;
CREATE DATABASE harvest;
