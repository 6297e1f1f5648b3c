"""``python -m scoring_service``: run the scoring worker (or ``--asyncapi PATH`` to write its AsyncAPI document)."""

from credit_shared.runtime import main
from scoring_service.app import build

if __name__ == "__main__":
    main(build)
