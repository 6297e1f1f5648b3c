#!/usr/bin/env bash
# Creates the two databases of the platform, each owned by its own login role:
#   MLflow's tracking and registry store  (MLFLOW_DB_NAME / MLFLOW_DB_USER / MLFLOW_DB_PASSWORD)
#   the application database              (CREDIT_DB_NAME / CREDIT_DB_USER / CREDIT_DB_PASSWORD)
# The postgres image runs it once, when its data volume is empty (/docker-entrypoint-initdb.d). It is idempotent,
# so it can also be run by hand against an existing cluster:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/10-create-databases.sh
set -euo pipefail

: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is required}"
: "${CREDIT_DB_PASSWORD:?CREDIT_DB_PASSWORD is required}"

create_database() {  # role database password
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
        --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        --set=role="$1" --set=db="$2" --set=password="$3" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT ALL ON DATABASE :"db" TO :"role";
SQL
    echo "database ${2} owned by ${1} is ready"
}

create_database "${MLFLOW_DB_USER:-mlflow}" "${MLFLOW_DB_NAME:-mlflow}" "${MLFLOW_DB_PASSWORD}"
create_database "${CREDIT_DB_USER:-credit}" "${CREDIT_DB_NAME:-credit}" "${CREDIT_DB_PASSWORD}"
