#!/bin/sh
# Runs once, when the postgres container initialises an empty volume: POSTGRES_DB (the OLTP
# database) exists already; add the analytics database next to it. Roles, grants and
# row-level security come from the migrations (`penguinmails migrate`).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE ${ANALYTICS_DB:-penguinmails_analytics};
SQL
