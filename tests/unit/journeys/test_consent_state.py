"""Property test: the consent the decision layer uses is the latest CDC state of each
(customer, channel, purpose) row, deletes and tombstones included.

Consent rows are inserted, updated, deleted (a `d` envelope, then its tombstone, or the tombstone
alone, as an unwrap SMT or a compacted topic leaves it) in any order, written as Debezium writes
them, and go through the job's decoder into the engine. After every record, the engine's view must
equal the table's; at the end, a marketing message goes out only on a channel whose row says
granted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import events as ev
from connectors.decoder import DeadLetter, Skipped
from connectors.examples import envelope
from connectors.records import KafkaRecord
from jobs.simulate import Simulation
from journeys.engine import EngineConfig
from journeys.loader import load_dir
from tests.unit.journeys.world import HOUR, T0

CUSTOMERS = ("c-1", "c-2")
CONSENTS = "crm.public.consents"

change = st.tuples(
    st.sampled_from(("upsert", "upsert", "delete", "delete_tombstone_only")),
    st.sampled_from(CUSTOMERS),
    st.sampled_from(ev.CHANNELS),
    st.sampled_from(ev.PURPOSES),
    st.booleans(),
    st.sampled_from(("iso", "micros")),  # updated_at as timestamptz or as timestamp
)


class Feed:
    def __init__(self) -> None:
        self.sim = Simulation(load_dir(), EngineConfig())
        self.offset = 0
        self.t = T0

    def record(self, topic: str, key: dict[str, Any] | None, value: dict[str, Any] | None) -> None:
        self.offset += 1
        self.t += 1000
        rec = KafkaRecord(
            topic,
            0,
            self.offset,
            self.t,
            None if key is None else json.dumps(key).encode(),
            None if value is None else json.dumps(value).encode(),
        )
        out = self.sim.decoder.decode(rec)
        assert type(out) is not DeadLetter, out
        if type(out) is not Skipped:
            self.sim.feed(out)  # type: ignore[arg-type]

    def change(self, table: str, op: str, row: dict[str, Any], key: tuple[str, ...]) -> None:
        system, name = table.split(".")
        env = envelope(table, op, after=row if op != "d" else None, lsn=self.offset + 1)
        if op == "d":
            env["before"] = {k: (v if k in key else None) for k, v in row.items()}
        env["ts_ms"] = env["source"]["ts_ms"] = self.t + 1000
        self.record(f"{system}.public.{name}", {k: row[k] for k in key}, env)


def consent_row(cid: str, channel: str, purpose: str, granted: bool, encoding: str, t: int) -> dict[str, Any]:
    updated = (
        datetime.fromtimestamp(t / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
        if encoding == "iso"
        else t * 1000
    )
    return {
        "customer_id": cid,
        "channel": channel,
        "purpose": purpose,
        "granted": granted,
        "updated_at": updated,
    }


KEY = ("customer_id", "channel", "purpose")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(change, min_size=1, max_size=30))
def test_consent_is_the_latest_row_deletes_and_tombstones_included(
    changes: list[tuple[str, str, str, str, bool, str]],
) -> None:
    f = Feed()
    for cid in CUSTOMERS:
        f.change(
            "crm.customers",
            "r",
            {
                "customer_id": cid,
                "email": f"{cid}@x.test",
                "phone": "+49151",
                "timezone": "Europe/Berlin",
                "lat": 52.5,
                "lon": 13.4,
                "preferred_channel": "email",
                "loyalty_tier": "member",
                "loyalty_points": 0,
                "vip": False,
            },
            ("customer_id",),
        )
    table: dict[tuple[str, str, str], bool] = {}
    for kind, cid, channel, purpose, granted, encoding in changes:
        k = (cid, channel, purpose)
        row = consent_row(cid, channel, purpose, granted, encoding, f.t)
        if kind == "upsert":
            f.change("crm.consents", "u" if k in table else "c", row, KEY)
            table[k] = granted
        else:
            if kind == "delete":
                f.change("crm.consents", "d", row, KEY)
            f.record(CONSENTS, {"customer_id": cid, "channel": channel, "purpose": purpose}, None)
            table.pop(k, None)
        for c in CUSTOMERS:
            state = f.sim.states.get(c)
            seen = dict(state.consents) if state is not None else {}
            want = {f"{ch}:{p}": g for (cc, ch, p), g in table.items() if cc == c}
            assert seen == want, f"{c} after {kind} {k}"

    # and the decision layer acts on it: a welcome message (marketing) only where granted
    for cid in CUSTOMERS:
        f.t += HOUR
        f.record("clickstream", None, _signed_up(cid, f.t, f.offset))
    welcomed = {a["customer_id"]: a["channel"] for a in f.sim.actions if a["action_type"] == "welcome"}
    for cid in CUSTOMERS:
        granted = {ch for (c, ch, p), g in table.items() if c == cid and p == "marketing" and g}
        if cid in welcomed:
            assert welcomed[cid] in granted, (cid, welcomed[cid], granted)
        else:
            assert not granted, f"{cid} has marketing consent on {granted} and got no welcome"


def _signed_up(cid: str, t: int, n: int) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"signup-{cid}-{n}",
        "userId": cid,
        "event": "Signed Up",
        "timestamp": datetime.fromtimestamp(t / 1000, tz=UTC).isoformat().replace("+00:00", "Z"),
        "properties": {},
    }
