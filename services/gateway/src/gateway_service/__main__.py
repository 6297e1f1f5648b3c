"""``python -m gateway_service``: serve the REST API with uvicorn, or manage API keys.

- ``python -m gateway_service`` serves the API;
- ``python -m gateway_service create-key --role analyst --name "risk team"`` prints a new key (shown only once);
- ``python -m gateway_service revoke-key KEY_ID`` revokes one;
- ``python -m gateway_service migrate`` brings the database (shared's schema and the gateway's own tables) to the
  latest revision (compose's one-shot ``db-migrate``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from credit_shared import db
from credit_shared.logs import configure_logging
from credit_shared.runtime import serve
from gateway_service import tables
from gateway_service.settings import get_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m gateway_service", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    create = commands.add_parser("create-key", help="create an API key and print it (shown only once)")
    create.add_argument("--role", required=True, choices=["viewer", "analyst", "admin"])
    create.add_argument("--name", required=True, help="who or what the key is for")
    revoke = commands.add_parser("revoke-key", help="revoke an API key by its id")
    revoke.add_argument("key_id")
    commands.add_parser("migrate", help="bring the database schema, the gateway's tables too, to the latest revision")
    args = parser.parse_args(argv)
    settings = get_settings()

    if args.command == "migrate":
        configure_logging("db-migrate", settings.platform.log_level, as_json=settings.platform.log_json)
        tables.migrate(settings.database.url)
        return 0

    if args.command in ("create-key", "revoke-key"):
        from gateway_service.security import KeyStore, Role

        tables.migrate(settings.database.url)
        keys = KeyStore(db.make_engine(settings.database))
        if args.command == "create-key":
            key, principal = keys.create(args.name, Role.parse(args.role))
            sys.stdout.write(f"key id: {principal.key_id}\nrole:   {principal.role.label}\nkey:    {key}\n")
            sys.stdout.write("Store the key now: only its hash is kept.\n")
            return 0
        if not keys.revoke(args.key_id):
            sys.stderr.write(f"no API key with id {args.key_id!r}\n")
            return 1
        sys.stdout.write(f"revoked {args.key_id}\n")
        return 0

    from gateway_service.app import create_app

    serve(create_app(settings), "gateway", settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
