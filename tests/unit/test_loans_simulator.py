import json

import pytest

from credit_local.loans_cli import MALFORMED, messages
from credit_shared.contracts.loans import LoanApplicationMessage

pytestmark = pytest.mark.unit


def test_applications_follow_the_public_contract_with_unique_request_ids() -> None:
    batch = list(messages([], 50, 0.0, seed=1))
    parsed = [LoanApplicationMessage.model_validate(json.loads(value)) for _, value in batch]
    assert len({p.request_id for p in parsed}) == 50
    assert all(key == str(p.sk_id_curr).encode() for (key, _), p in zip(batch, parsed, strict=True))


def test_the_malformed_share_is_respected_and_reproducible() -> None:
    batch = list(messages([], 2000, 0.1, seed=3))
    bad = sum(value in MALFORMED for _, value in batch)
    assert 150 < bad < 250
    assert [v for _, v in batch if v in MALFORMED] == [v for _, v in messages([], 2000, 0.1, seed=3) if v in MALFORMED]


def test_dataset_rows_are_replayed_in_turn() -> None:
    rows = [{"SK_ID_CURR": 1, "AMT_CREDIT": 10.0}, {"SK_ID_CURR": 2, "AMT_CREDIT": None}]
    keys = [key for key, _ in messages(rows, 4, 0.0, seed=0)]
    assert keys == [b"1", b"2", b"1", b"2"]
