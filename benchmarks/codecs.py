"""Decoding and encoding speed per format, records/s on one core (`journeyctl bench codecs`).

Registry lookups are cached in the job, so the benchmark uses an in-memory registry: what is
measured is the per-record work. Each row is the best of several rounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from common.settings import Settings
from connectors.avro import Encoder, LocalSchemas, load_schema
from connectors.clickstream import decode_click, to_avro_record
from connectors.debezium import TABLES, decode_change
from connectors.decoder import Decoder
from connectors.records import KafkaRecord, read_frame, write_frame

TARGETS = {"clickstream JSON decode": 100_000, "Debezium JSON decode": 100_000}


def _samples() -> dict[str, Any]:
    from connectors import examples as samples

    return {
        "click": samples.CLICK,
        "order": samples.ORDER_COMPLETED,
        "envelope": samples.envelope,
        "with_schema": samples.with_json_schema,
        "avro_schema": samples.avro_envelope_schema,
        "avro_record": samples.avro_envelope_record,
        "rows": samples.ROWS,
    }


def _rate(fn: Callable[[Any], Any], inputs: list[Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for x in inputs:
            fn(x)
        best = min(best, time.perf_counter() - start)
    return len(inputs) / best


def run(n: int = 50_000, rounds: int = 3) -> list[tuple[str, float]]:
    s = _samples()
    reg = LocalSchemas()
    clicks = [
        json.dumps({**s["click"], "messageId": f"m-{i}", "userId": f"c-{i % 1000}"}).encode()
        for i in range(n)
    ]
    click_enc = Encoder(reg, "clickstream", load_schema("clickstream_event"))
    clicks_avro = [click_enc.encode(to_avro_record(json.loads(c))) for c in clicks]
    stock = TABLES["inventory.stock_levels"]
    env = s["envelope"]
    dbz = [
        json.dumps(
            env(
                "inventory.stock_levels",
                "u",
                after={**s["rows"]["inventory.stock_levels"], "quantity": i % 50},
                lsn=i,
            )
        ).encode()
        for i in range(n)
    ]
    dbz_schema = [json.dumps(s["with_schema"]("inventory.stock_levels", json.loads(v))).encode() for v in dbz]
    dbz_enc = Encoder(reg, "inventory.public.stock_levels", s["avro_schema"]("inventory.stock_levels"))
    dbz_avro = [dbz_enc.encode(s["avro_record"](json.loads(v))) for v in dbz]
    customers = TABLES["crm.customers"]
    cust = [json.dumps(env("crm.customers", "u", lsn=i)).encode() for i in range(n)]
    decoder = Decoder(Settings(), reg)
    frames = [write_frame(KafkaRecord("clickstream", i % 2, i, 0, b"c-1", v)) for i, v in enumerate(clicks)]
    action_enc = Encoder(reg, "actions.email", load_schema("action"))
    from connectors.examples import ACTION

    actions = [{**ACTION, "action_id": f"a-{i}"} for i in range(n)]
    rows = [
        ("clickstream JSON decode", _rate(lambda v: decode_click(v, reg), clicks, rounds)),
        ("clickstream Avro decode", _rate(lambda v: decode_click(v, reg), clicks_avro, rounds)),
        ("Debezium JSON decode", _rate(lambda v: decode_change(v, stock, reg, "x"), dbz, rounds)),
        (
            "Debezium JSON decode, crm.customers",
            _rate(lambda v: decode_change(v, customers, reg, "x"), cust, rounds),
        ),
        (
            "Debezium JSON+schema decode",
            _rate(lambda v: decode_change(v, stock, reg, "x"), dbz_schema, rounds),
        ),
        ("Debezium Avro decode", _rate(lambda v: decode_change(v, stock, reg, "x"), dbz_avro, rounds)),
        (
            "frame + dispatch + JSON click decode",
            _rate(lambda f: decoder.decode(read_frame(f)), frames, rounds),
        ),
        ("action Avro encode", _rate(action_enc.encode, actions, rounds)),
    ]
    return rows


def main(n: int = 50_000) -> int:
    print(f"codecs: {n} records per format, best of 3, one core", flush=True)
    rows = run(n)
    failed = False
    for name, rate in rows:
        target = TARGETS.get(name)
        verdict = ""
        if target:
            ok = rate >= target
            failed |= not ok
            verdict = f"  target {target:,}/s: {'met' if ok else 'MISSED'}"
        print(f"  {name:40s} {rate:>12,.0f} records/s{verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
