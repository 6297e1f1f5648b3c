"""``python -m gateway_service``: serve the REST API with uvicorn."""

import uvicorn

from credit_shared.logs import configure_logging
from gateway_service.app import create_app
from gateway_service.settings import get_settings

if __name__ == "__main__":
    settings = get_settings()
    configure_logging("gateway", settings.platform.log_level, as_json=settings.platform.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
