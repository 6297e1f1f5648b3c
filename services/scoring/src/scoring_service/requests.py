"""The internal reply-only requests: an analyst's what-if with a named version, and a full explanation.

Both come on ``loan-applications`` with a reply address (the gateway's) and are answered there only: a named
version's decision is audited (with its version and no alias) but never published on ``loan-decisions`` (an
analyst's what-if is not a lending decision); a full explanation is neither published nor audited. A request that
cannot be answered gets an error reply saying why; the stream goes on.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from credit_shared.contracts.loans import (
    MODEL_UNAVAILABLE,
    SCORING_FAILED,
    UNKNOWN_MODEL_VERSION,
    LoanApplicationMessage,
    encode,
    message_key,
)
from credit_shared.features.serving import FeatureBuilder
from scoring_service.answers import Answer, Outcome, record_decisions
from scoring_service.holder import ModelHolder
from scoring_service.scorer import explain_batch, score_batch
from scoring_service.served import ServedModel, UnknownVersion
from scoring_service.versions import VersionCache

log = logging.getLogger(__name__)

Group = list[tuple[Answer, LoanApplicationMessage]]


class ReplyOnly:
    """Answers the reply-only requests of a batch, grouped by model version and kind."""

    def __init__(self, holder: ModelHolder, versions: VersionCache, build_request_features: FeatureBuilder) -> None:
        self.holder = holder
        self.versions = versions
        self.build_request_features = build_request_features

    async def answer(self, requests: Group, outcome: Outcome, *, started: float, received_at: datetime) -> None:
        """Fill in each request's answer (its reply, and the audit row of a named version's decision)."""
        groups: dict[tuple[str | None, bool], Group] = {}
        for answer, application in requests:
            groups.setdefault((application.model_version, application.explain is not None), []).append(
                (answer, application)
            )
        for (version, explain), group in groups.items():
            model = await self._model(version, group)
            if model is not None:
                await self._answer(group, model, explain=explain, outcome=outcome, started=started,
                                   received_at=received_at)  # fmt: skip

    async def _model(self, version: str | None, group: Group) -> ServedModel | None:
        """The champion or the named version; None (and each request told why) when it cannot be had."""
        served = self.holder.served
        try:
            if version is None:
                assert served.champion is not None
                return served.champion
            return await self.versions.get(version, served=(served.champion, served.challenger))
        except UnknownVersion as exc:
            _tell_all(group, UNKNOWN_MODEL_VERSION, str(exc))
        except Exception as exc:  # noqa: BLE001 - MLflow down or a broken version: tell the clients, keep going
            log.warning("named version %s cannot be loaded: %s", version, exc)
            _tell_all(group, MODEL_UNAVAILABLE, f"version {version} cannot be loaded now: {exc}")
        return None

    async def _answer(
        self, group: Group, model: ServedModel, *, explain: bool, outcome: Outcome, started: float,
        received_at: datetime,
    ) -> None:  # fmt: skip
        """Reply with the explanations, or with the named version's decisions (audited, not on loan-decisions)."""
        applications = [a for _, a in group]
        build = self.build_request_features
        try:
            if explain:
                explained = await asyncio.to_thread(explain_batch, applications, model, build)
            else:
                scored = await asyncio.to_thread(score_batch, applications, [started] * len(applications), model,
                                                 build)  # fmt: skip
        except Exception as exc:  # one unanswerable request must not hold the stream
            log.exception("version %s could not answer %d request(s)", model.ref.version, len(applications))
            _tell_all(group, SCORING_FAILED, f"version {model.ref.version} failed: {exc}")
            return
        if explain:
            for (answer, application), explanation in zip(group, explained, strict=True):
                assert application.reply_to is not None
                answer.send(application.reply_to, encode(explanation), message_key(application.sk_id_curr))
            return
        decided = [
            (answer, application, result, None) for (answer, application), result in zip(group, scored, strict=True)
        ]
        record_decisions(outcome, model, decided, received_at=received_at, public=False)


def _tell_all(group: Group, reason: str, error: str) -> None:
    for answer, application in group:
        answer.tell(application.reply_to, application.correlation_id, reason, error)
