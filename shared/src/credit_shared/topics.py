"""Every Kafka topic of the platform, with its partition count: handlers never spell a topic name.

Public topics (``loan-applications``, ``loan-decisions`` and the dead-letter topic) are the contract with lending
applications; the others are internal commands (imperative) and events (past tense), versioned by suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic name and how it is created."""

    name: str
    description: str
    high_volume: bool = False  # partitioned like the public stream (KAFKA_PARTITIONS); else 1 partition


LOAN_APPLICATIONS: Final = Topic("loan-applications", "Loan applications published by lending apps", True)
LOAN_DECISIONS: Final = Topic("loan-decisions", "One explained decision per accepted request id", True)
LOAN_APPLICATIONS_DLQ: Final = Topic("loan-applications.dlq", "Applications that cannot be decided", True)
LOAN_OUTCOMES: Final = Topic("loan-outcomes", "Observed outcomes of decided loans, published by lenders", True)
LOAN_OUTCOMES_DLQ: Final = Topic("loan-outcomes.dlq", "Outcomes that cannot be used", True)
SCORING_REPLIES: Final = Topic("scoring.replies.v1", "Decisions sent to a reply address (request/reply)")

DATASET_COMMANDS: Final = Topic("ingestion.commands.v1", "Build a dataset")
DATASET_EVENTS: Final = Topic("ingestion.events.v1", "Dataset build progress, built, failed")
TRAINING_COMMANDS: Final = Topic("training.commands.v1", "Train a model, promote a version")
TRAINING_EVENTS: Final = Topic("training.events.v1", "Training progress, model trained, promoted, failed")
SCORING_COMMANDS: Final = Topic("scoring.commands.v1", "Score a whole dataset")
SCORING_EVENTS: Final = Topic("scoring.events.v1", "Batch scoring progress and results")
MONITORING_COMMANDS: Final = Topic("monitoring.commands.v1", "Produce a drift report on demand")
MONITORING_EVENTS: Final = Topic("monitoring.events.v1", "Drift reported, drift alert")

ALL_TOPICS: Final[tuple[Topic, ...]] = (
    LOAN_APPLICATIONS,
    LOAN_DECISIONS,
    LOAN_APPLICATIONS_DLQ,
    LOAN_OUTCOMES,
    LOAN_OUTCOMES_DLQ,
    SCORING_REPLIES,
    DATASET_COMMANDS,
    DATASET_EVENTS,
    TRAINING_COMMANDS,
    TRAINING_EVENTS,
    SCORING_COMMANDS,
    SCORING_EVENTS,
    MONITORING_COMMANDS,
    MONITORING_EVENTS,
)


def partitions_of(topic: Topic, high_volume_partitions: int) -> int:
    """Partition count a topic is created with."""
    return high_volume_partitions if topic.high_volume else 1
