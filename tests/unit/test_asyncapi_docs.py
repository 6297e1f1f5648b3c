"""The committed AsyncAPI documents are the ones the code generates (`make asyncapi` after a contract change)."""

import importlib
import json
from pathlib import Path

import pytest

from credit_shared import topics
from credit_shared.runtime import specification

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"
WORKERS = ("ingestion", "training", "scoring", "monitoring")


@pytest.mark.parametrize("service", WORKERS)
def test_committed_asyncapi_document_matches_the_code(service: str) -> None:
    build = importlib.import_module(f"{service}_service.app").build
    worker, _ = build()
    generated = specification(worker).to_specification().to_jsonable()
    committed = json.loads((DOCS / f"{service}.json").read_text())
    assert set(committed["channels"]) == set(generated["channels"]), "run `make asyncapi`"
    assert committed == json.loads(json.dumps(generated)), "run `make asyncapi`"


def test_every_documented_channel_is_a_known_topic() -> None:
    known = {t.name for t in topics.ALL_TOPICS}
    for path in DOCS.glob("*.json"):
        for channel in json.loads(path.read_text())["channels"].values():
            assert channel["address"] in known, f"{path.name}: {channel['address']}"


def test_scoring_documents_the_public_topics() -> None:
    channels = json.loads((DOCS / "scoring.json").read_text())["channels"]
    addresses = {c["address"] for c in channels.values()}
    assert {"loan-applications", "loan-applications.dlq"} <= addresses
