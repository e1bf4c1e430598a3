"""Simulated customers for the demo and the tests: what a delivered message leads to.

Decided by a hash of the action_id and the simulator's seed, not by a random generator, so that
the same run gives the same engagement whichever sender process handles the action and however
often it is asked.
"""

from __future__ import annotations

import hashlib

from common.sender_settings import SimulatorSettings


def _chance(seed: int, action_id: str, what: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{action_id}:{what}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def engagement(
    settings: SimulatorSettings, action_id: str, customer_id: str, channel: str, delivered_at: int
) -> list[tuple[str, int]]:
    """(event, occurred_at) that follow a delivery, in time order: an open, then perhaps a
    click; an unsubscribe or a complaint (which end engagement) come in place of an open."""
    if not settings.enabled:
        return []
    rates = settings.rates(customer_id, channel)
    at = delivered_at + settings.delay_ms
    if _chance(settings.seed, action_id, "complain") < rates.complain:
        return [("complained", at)]
    if _chance(settings.seed, action_id, "unsubscribe") < rates.unsubscribe:
        return [("unsubscribed", at)]
    if _chance(settings.seed, action_id, "open") >= rates.open:
        return []
    events = [("opened", at)]
    if _chance(settings.seed, action_id, "click") < rates.click:
        events.append(("clicked", at + settings.delay_ms))
    return events
