"""The sender's Prometheus metrics (`/metrics` on `sender.metrics_port`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class SenderMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "journey_sender_messages",
            "Actions handled, by channel and outcome (delivered, bounced, failed, expired)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.failures = Counter(
            "journey_sender_failures",
            "Provider calls and actions that did not end in a delivery, by channel and reason",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "journey_sender_feedback",
            "channel-feedback records committed, by channel and event",
            ["channel", "event"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "journey_sender_dead_letters",
            "Action records that could not be read, by channel and error class",
            ["channel", "error_class"],
            registry=self.registry,
        )
        # from when the action was due (its send_after) to the provider accepting it
        self.delay = Histogram(
            "journey_sender_send_delay_seconds",
            "Seconds from an action's send_after to its delivery",
            ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            registry=self.registry,
        )
        self.pending = Gauge(
            "journey_sender_pending",
            "Actions held for their send_after or a retry",
            ["channel"],
            registry=self.registry,
        )

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)
