#!/bin/bash
# First start of the PostgreSQL container: the projection's own database and role, beside
# the databases the Temporal server creates for itself (temporal, temporal_visibility).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v password="$DOCSTATE_DB_PASSWORD" <<'SQL'
CREATE ROLE docstate LOGIN PASSWORD :'password';
CREATE DATABASE docstate OWNER docstate;
SQL
