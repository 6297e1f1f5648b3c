"""``python -m credit_shared.db``: bring the application database (``DATABASE_URL``) to the latest schema."""

from credit_shared.db import migrate
from credit_shared.logs import configure_logging
from credit_shared.settings import DatabaseSettings

if __name__ == "__main__":
    configure_logging("db-migrate")
    migrate(DatabaseSettings().url)
