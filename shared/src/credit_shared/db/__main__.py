"""``python -m credit_shared.db``: bring the application database (``DATABASE_URL``) to the latest schema of shared's
chain (the gateway's own tables have their own: ``python -m gateway_service migrate`` runs both)."""

from credit_shared.db import migrate
from credit_shared.logs import configure_logging
from credit_shared.settings import DatabaseSettings

if __name__ == "__main__":
    configure_logging("db-migrate")
    migrate(DatabaseSettings().url)
