"""One channel's sending, without Kafka: an action in, at its time a message out through the
provider, and the feedback records to write. Time is passed in (tests use a fake clock); the
Kafka loop (senders/service.py) reads the actions and writes what `step` returns.

Never twice: the ledger (senders/ledger.py) holds every action_id's status, written before the
provider is called and after it answers.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from typing import Any

from common.sender_settings import SenderSettings
from senders import ledger as lg
from senders.contacts import Contacts
from senders.engagement import engagement
from senders.ledger import Ledger
from senders.metrics import SenderMetrics
from senders.outbox import Outbox, Pending
from senders.providers import Permanent, Provider, Transient
from senders.templates import Templates

Feedback = dict[str, Any]
_LOG = logging.getLogger(__name__)


class ChannelWorker:
    def __init__(
        self,
        channel: str,
        settings: SenderSettings,
        templates: Templates,
        provider: Provider,
        ledger: Ledger,
        contacts: Contacts,
        metrics: SenderMetrics | None = None,
    ) -> None:
        self.channel = channel
        self.settings = settings
        self.templates = templates
        self.provider = provider
        self.ledger = ledger
        self.contacts = contacts
        self.metrics = metrics
        self.outbox = Outbox()
        self._later: list[tuple[int, int, Feedback]] = []  # simulated engagement, by due time
        self._seq = itertools.count()
        #: action_ids whose final feedback is in the open Kafka transaction (ledger `reported`
        #: once it commits)
        self.unreported: list[str] = []

    # ------------------------------------------------------------------ input

    def take(self, partition: int, offset: int, action: dict[str, Any]) -> None:
        """A decoded action; handled at its send_after (at once if that has passed)."""
        action["channel"] = self.channel  # the topic says the channel (CONTRACTS: they are equal)
        self.outbox.read(partition, offset)
        self.outbox.hold(partition, offset, action, int(action["send_after"]))

    def skip(self, partition: int, offset: int) -> None:
        """A record that is not an action (dead-lettered): done as it is read."""
        self.outbox.read(partition, offset)
        self.outbox.done(partition, offset)

    def pending(self) -> int:
        return len(self.outbox)

    def next_due_ms(self) -> int | None:
        dues = [
            d
            for d in (self.outbox.next_due_ms(), self._later[0][0] if self._later else None)
            if d is not None
        ]
        return min(dues) if dues else None

    # ------------------------------------------------------------------ work

    def step(self, now_ms: int) -> list[Feedback]:
        """Every action and simulated engagement due by `now_ms` handled; the feedback to write."""
        out: list[Feedback] = []
        for p in self.outbox.due(now_ms):
            out.extend(self._handle(p, now_ms))
        while self._later and self._later[0][0] <= now_ms:
            out.append(heapq.heappop(self._later)[2])
        if self.metrics is not None:
            self.metrics.pending.labels(self.channel).set(len(self.outbox))
        return out

    def _feedback(self, a: dict[str, Any], event: str, at: int, detail: str | None = None) -> Feedback:
        return {
            "action_id": a["action_id"],
            "customer_id": a["customer_id"],
            "channel": self.channel,
            "event": event,
            "occurred_at": at,
            "detail": detail,
        }

    def _finish(self, p: Pending, status: str, now: int, detail: str | None = None) -> list[Feedback]:
        a = p.action
        self.ledger.record(a["action_id"], status, now, detail)
        self.outbox.done(p.partition, p.offset)
        self.unreported.append(a["action_id"])
        if self.metrics is not None:
            self.metrics.messages.labels(self.channel, status).inc()
        return [self._feedback(a, status, now, detail)]

    def _fail(self, p: Pending, status: str, reason: str, now: int, detail: str) -> list[Feedback]:
        if self.metrics is not None:
            self.metrics.failures.labels(self.channel, reason).inc()
        _LOG.warning("%s %s for %s: %s", self.channel, status, p.action["action_id"], detail)
        return self._finish(p, status, now, detail)

    def _handle(self, p: Pending, now: int) -> list[Feedback]:
        a = p.action
        action_id = a["action_id"]
        seen = self.ledger.get(action_id)
        if seen is not None and seen.status in lg.FINAL:
            # read again after a restart: done before. Its feedback is written again only if the
            # transaction that held it never committed (the ledger says whether one did)
            self.outbox.done(p.partition, p.offset)
            if seen.reported:
                return []
            self.unreported.append(action_id)
            return [self._feedback(a, seen.status, seen.occurred_at, seen.detail)]
        if seen is not None and seen.status == lg.SENDING:
            return self._fail(
                p,
                "failed",
                "interrupted",
                now,
                "the sender stopped while the provider had this message; not sent again",
            )
        expires = a.get("expires_at")
        if expires is not None and now > expires:
            return self._fail(p, "expired", "expired", now, f"past expires_at by {(now - expires) // 1000} s")
        try:
            address = self.contacts.address(a["customer_id"], self.channel)
            message = self.templates.render(a, address)
        except Permanent as e:
            return self._fail(p, "bounced", "no_address", now, str(e))
        except Transient as e:
            return self._retry(p, now, str(e))
        except Exception as e:  # a template that fails on this action's values
            return self._fail(p, "failed", "template", now, f"{type(e).__name__}: {e}"[:300])
        self.ledger.record(action_id, lg.SENDING, now)
        try:
            self.provider.send(message)
        except Permanent as e:
            return self._fail(p, "bounced", "permanent", now, str(e))
        except Transient as e:
            self.ledger.record(action_id, lg.RETRY, now, str(e))
            return self._retry(p, now, str(e))
        if self.metrics is not None:
            self.metrics.delay.labels(self.channel).observe(max(0, now - int(a["send_after"])) / 1000)
        for event, at in engagement(self.settings.simulator, action_id, a["customer_id"], self.channel, now):
            heapq.heappush(self._later, (at, next(self._seq), self._feedback(a, event, at)))
        return self._finish(p, "delivered", now)

    def _retry(self, p: Pending, now: int, detail: str) -> list[Feedback]:
        s = self.settings
        if self.metrics is not None:
            self.metrics.failures.labels(self.channel, "transient").inc()
        if p.attempts >= s.retry_attempts:
            return self._fail(
                p, "failed", "retries_exhausted", now, f"after {p.attempts + 1} attempts: {detail}"
            )
        backoff = min(s.retry_backoff_ms * 2**p.attempts, s.retry_max_backoff_ms)
        _LOG.info(
            "%s: %s; trying %s again in %.1f s", self.channel, detail, p.action["action_id"], backoff / 1000
        )
        self.outbox.hold(p.partition, p.offset, p.action, now + backoff, p.attempts + 1)
        return []

    def committed(self) -> None:
        """The Kafka transaction holding the feedback of `unreported` committed."""
        if self.unreported:
            self.ledger.reported(self.unreported)
            self.unreported = []
