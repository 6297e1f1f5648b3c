import pytest
from pydantic import SecretStr

from credit_shared import topics
from credit_shared.settings import DatabaseSettings, Environment, KafkaSettings, refuse_placeholder

pytestmark = pytest.mark.unit


def test_topic_names_are_unique() -> None:
    names = [t.name for t in topics.ALL_TOPICS]
    assert len(names) == len(set(names))


def test_public_topics_are_named_as_the_contract_says() -> None:
    assert topics.LOAN_APPLICATIONS.name == "loan-applications"
    assert topics.LOAN_DECISIONS.name == "loan-decisions"
    assert topics.LOAN_APPLICATIONS_DLQ.name == "loan-applications.dlq"


def test_high_volume_topics_get_the_configured_partitions() -> None:
    assert topics.partitions_of(topics.LOAN_APPLICATIONS, 6) == 6
    assert topics.partitions_of(topics.TRAINING_COMMANDS, 6) == 1


def test_settings_read_their_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u@h/db")
    assert KafkaSettings().bootstrap_servers == "broker:9092"
    assert DatabaseSettings().url == "postgresql+psycopg2://u@h/db"


@pytest.mark.parametrize("secret", ["", "change-me", SecretStr("secret")])
def test_placeholder_secrets_are_refused_outside_development(secret: str | SecretStr) -> None:
    refuse_placeholder(secret, "X", Environment.DEVELOPMENT)
    with pytest.raises(ValueError, match="X holds a placeholder secret"):
        refuse_placeholder(secret, "X", Environment.PRODUCTION)


def test_real_secret_is_accepted_in_production() -> None:
    refuse_placeholder("4f9a0c2d7e", "X", Environment.PRODUCTION)
