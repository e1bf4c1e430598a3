"""`journeyctl send`: the channel sender (senders/) in the foreground, with a progress line."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from common.events import CHANNELS
from common.settings import Settings


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "send",
        help="send the actions: read actions.<channel>, render, deliver, write channel-feedback",
        description=(
            "The channel sender: one consumer group per channel reads the committed actions, waits "
            "for send_after, drops what is past expires_at, renders each from a template and hands "
            "it to a provider, then writes channel-feedback. It never sends one action_id twice "
            "(docs/senders.md). Prometheus metrics on --metrics-port."
        ),
    )
    p.add_argument(
        "--channel",
        action="append",
        choices=[*CHANNELS, "all"],
        help="a channel to serve (repeatable; default all)",
    )
    p.add_argument(
        "--provider", choices=["console", "file", "smtp"], help="how messages leave (default console)"
    )
    p.add_argument("--templates", help="folder of message templates (default: the shipped ones)")
    p.add_argument(
        "--simulate-engagement",
        action="store_true",
        help="opens, clicks, unsubscribes from simulated customers",
    )
    p.add_argument("--metrics-port", type=int, help="Prometheus /metrics port (0: none; default 9464)")
    p.add_argument("--for-s", type=float, help="stop after this many seconds")
    p.add_argument(
        "--until-idle-s",
        type=float,
        help="stop once nothing has come or waited for this many seconds (after at least one action)",
    )
    return p


def settings_for(base: Settings, args: argparse.Namespace) -> Settings:
    s = base.sender
    update: dict[str, Any] = {}
    if args.channel and "all" not in args.channel:
        update["channels"] = list(dict.fromkeys(args.channel))
    if args.provider:
        update["providers"] = dict.fromkeys(update.get("channels", s.channels), args.provider)
    if args.templates:
        update["templates"] = args.templates
    if args.simulate_engagement:
        update["simulator"] = s.simulator.model_copy(update={"enabled": True})
    if args.metrics_port is not None:
        update["metrics_port"] = args.metrics_port
    if not update:
        return base
    sender = type(s).model_validate({**s.model_dump(), **update})
    return base.model_copy(update={"sender": sender})


def run(settings: Settings, args: argparse.Namespace) -> int:
    from connectors.admin import KafkaUnreachable, ensure_topics
    from connectors.avro import RegistryUnavailable
    from senders.service import Sender
    from senders.templates import TemplateError

    s = settings.sender
    topics = [settings.topics.actions[ch] for ch in s.channels]
    try:
        ensure_topics(settings, [*topics, settings.topics.channel_feedback, settings.topics.dead_letter])
        sender = Sender(settings)
    except (KafkaUnreachable, TemplateError) as e:
        print(f"send: {e}", file=sys.stderr, flush=True)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sender.stop.set())
    where = f", metrics on http://{s.metrics_host}:{s.metrics_port}/metrics" if s.metrics_port else ""
    providers = ", ".join(f"{ch}: {s.provider(ch)}" for ch in s.channels)
    print(f"send: {', '.join(topics)} ({providers}){where}; Ctrl-C to stop", flush=True)
    sender.start()
    started = time.monotonic()
    last_line = last_change = started
    last_totals: dict[str, dict[str, int]] = {}
    try:
        while sender.alive() and not sender.stop.is_set():
            time.sleep(0.2)
            now = time.monotonic()
            totals = sender.totals()
            if totals != last_totals:
                last_totals, last_change = totals, now
            if now - last_line >= 10:
                print(f"send: {_progress(totals)}", flush=True)
                last_line = now
            if args.for_s is not None and now - started >= args.for_s:
                break
            handled = sum(v for t in totals.values() for k, v in t.items() if k != "pending")
            waiting = sum(t.get("pending", 0) for t in totals.values())
            if (
                args.until_idle_s is not None
                and handled
                and not waiting
                and now - last_change >= args.until_idle_s
            ):
                break
    except KeyboardInterrupt:
        pass
    finally:
        sender.close()
    print(f"send: stopped; {_progress(sender.totals())}", flush=True)
    for error in sender.errors:
        hint = " (the schema registry)" if isinstance(error, RegistryUnavailable) else ""
        print(f"send: failed{hint}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    return 1 if sender.errors else 0


def _progress(totals: dict[str, dict[str, int]]) -> str:
    parts = []
    for ch, t in sorted(totals.items()):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(t.items()) if v)
        parts.append(f"{ch}: {counts or 'nothing yet'}")
    return "; ".join(parts)
