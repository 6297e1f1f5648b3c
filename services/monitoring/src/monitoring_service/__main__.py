"""``python -m monitoring_service``: run the worker, or write its AsyncAPI document (``--asyncapi PATH``)."""

from credit_shared.runtime import main
from monitoring_service.app import build

if __name__ == "__main__":
    main(build)
