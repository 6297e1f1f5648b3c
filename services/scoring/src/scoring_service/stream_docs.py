"""The AsyncAPI description of the decision stream's channels, the public contract.

The stream runs on aiokafka directly (:mod:`scoring_service.transport`), so its channels are declared here, on a
FastStream broker that is never started, only documented beside the service's running broker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faststream.kafka import KafkaBroker

from credit_shared import topics
from credit_shared.contracts.loans import DeadLetter, LoanApplicationMessage, LoanDecision
from credit_shared.kafka import documented_batch
from scoring_service.settings import Settings

if TYPE_CHECKING:
    ApplicationBatch = list[bytes]
else:  # raw bytes, documented in AsyncAPI as the public contract
    ApplicationBatch = documented_batch(LoanApplicationMessage)


def document_stream(settings: Settings, description: str) -> KafkaBroker:
    """A broker (never started) declaring ``loan-applications``, ``loan-decisions`` and the dead-letter topic.

    It has the running broker's address and ``description``, so the document names one server.
    """
    broker = KafkaBroker(settings.kafka.bootstrap_servers, description=description)
    broker.publisher(
        topics.LOAN_APPLICATIONS_DLQ.name,
        title=topics.LOAN_APPLICATIONS_DLQ.name,
        description="Every message that cannot be decided: the original bytes (a bounded prefix, its size and "
        "SHA-256 when larger), the step that failed, the error, where it came from.",
        schema=DeadLetter,
    )
    broker.publisher(
        topics.LOAN_DECISIONS.name,
        title=topics.LOAN_DECISIONS.name,
        description="One explained decision per accepted request id, keyed by the applicant id. With "
        "SCORING_DELIVERY=exactly_once, decisions are written in Kafka transactions: read them with "
        "isolation.level=read_committed.",
        schema=LoanDecision,
    )

    @broker.subscriber(
        topics.LOAN_APPLICATIONS.name,
        group_id=settings.group_id,
        batch=True,
        title=topics.LOAN_APPLICATIONS.name,
        description="Loan applications published by lending applications (the public contract).",
    )
    async def loan_applications(body: ApplicationBatch) -> None:  # pragma: no cover - documentation only
        """Documented, never run: the decision stream reads this topic (scoring_service.stream)."""

    return broker
