"""Settings of the channel sender (`journeyctl send`), under `JOURNEY_SENDER__*`.

The sender is the other side of the action topics, as a channel team runs it: one consumer
group per channel, a message per action from a template, a provider that delivers it, and
`channel-feedback` written back (senders/).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from common.events import CHANNELS

REPO = Path(__file__).resolve().parent.parent

ProviderKind = Literal["console", "file", "smtp"]


class EngagementRates(BaseModel):
    """What share of delivered messages the simulated customer opens, clicks (of the opened),
    unsubscribes from and complains about."""

    open: float = Field(default=0.3, ge=0, le=1)
    click: float = Field(default=0.3, ge=0, le=1)
    unsubscribe: float = Field(default=0.0, ge=0, le=1)
    complain: float = Field(default=0.0, ge=0, le=1)


def _default_segments() -> dict[str, dict[str, EngagementRates]]:
    # push and in-app get looked at more often than email; SMS is opened but rarely clicked
    return {
        "*": {
            "email": EngagementRates(open=0.25, click=0.2),
            "sms": EngagementRates(open=0.6, click=0.1),
            "push": EngagementRates(open=0.4, click=0.3),
            "in_app": EngagementRates(open=0.5, click=0.3),
        }
    }


class SimulatorSettings(BaseModel):
    """The engagement simulator of the demo: after a delivery, `opened`, `clicked`,
    `unsubscribed` or `complained` as a customer of that segment would, decided by a hash of
    the action_id and `seed` (the same run gives the same engagement)."""

    enabled: bool = False
    seed: int = 0
    #: how long after the delivery the open comes; a click comes as long after the open
    delay_ms: int = Field(default=2_000, ge=0)
    #: customer_id pattern (fnmatch, e.g. `c-vip-*`) -> channel -> rates; the first pattern
    #: that matches wins, a channel it leaves out gets the default rates
    segments: dict[str, dict[str, EngagementRates]] = Field(default_factory=_default_segments)

    def rates(self, customer_id: str, channel: str) -> EngagementRates:
        from fnmatch import fnmatchcase

        for pattern, by_channel in self.segments.items():
            if fnmatchcase(customer_id, pattern):
                return by_channel.get(channel) or EngagementRates()
        return EngagementRates(open=0, click=0)


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 25
    #: `starttls` upgrades a plain connection, `ssl` speaks TLS from the start (port 465)
    tls: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    #: a file that holds the password (a mounted secret), read when the settings load
    password_file: Path | None = None
    from_address: str = "journeys@shop.example"
    timeout_s: float = 10.0

    @model_validator(mode="after")
    def _password_from_file(self) -> SmtpSettings:
        if self.password is None and self.password_file is not None:
            try:
                self.password = SecretStr(self.password_file.read_text().rstrip("\r\n"))
            except OSError as e:
                raise ValueError(
                    f"JOURNEY_SENDER__SMTP__PASSWORD_FILE: cannot read {self.password_file}: {e.strerror}"
                ) from None
        return self


def _all_console() -> dict[str, ProviderKind]:
    return {ch: "console" for ch in CHANNELS}


class SenderSettings(BaseModel):
    #: the channels this sender serves, each with a consumer group of its own
    channels: list[str] = Field(default_factory=lambda: list(CHANNELS))
    #: consumer group `<prefix>.<channel>`; and transactional.id `<prefix>.<channel>.<instance>`
    group_prefix: str = "journey-sender"
    #: stable per sender process across restarts (a restarted sender fences its old self)
    instance: str = Field(default_factory=lambda: os.environ.get("HOSTNAME") or "local")
    #: folder of message templates (`<action_type>.<channel>.j2` or `<action_type>.j2`);
    #: empty = the shipped ones (senders/templates)
    templates: str = ""
    #: how each channel's messages leave: console (printed), file (one JSON file per action
    #: under `outbox_dir`) or smtp (email only)
    providers: dict[str, ProviderKind] = Field(default_factory=lambda: _all_console())
    outbox_dir: str = str(REPO / ".stack" / "outbox")
    #: where each channel's ledger of sent action_ids lives (SQLite): what keeps an action from
    #: being sent twice across crashes and restarts (docs/senders.md)
    ledger_dir: str = str(REPO / ".stack" / "sender")
    #: ledger rows kept this long; above the action topics' retention, so a re-read action is
    #: always found
    ledger_retention_days: int = Field(default=14, gt=0)
    #: where addresses come from: `pattern` (address_patterns) or `crm` (crm.customers, the
    #: email and phone columns, through sources' database settings)
    contacts: Literal["pattern", "crm"] = "pattern"
    address_patterns: dict[str, str] = Field(
        default_factory=lambda: {
            "email": "{customer_id}@customers.example",
            "sms": "{customer_id}",
            "push": "{customer_id}",
            "in_app": "{customer_id}",
        }
    )
    #: a provider's transient failures are tried again this many times, after a delay that
    #: doubles from `retry_backoff_ms` to `retry_max_backoff_ms`; then the action is `failed`
    retry_attempts: int = Field(default=5, ge=0)
    retry_backoff_ms: int = Field(default=1_000, gt=0)
    retry_max_backoff_ms: int = Field(default=60_000, gt=0)
    #: feedback and consumed offsets are committed together this often (one Kafka transaction)
    commit_interval_ms: int = Field(default=200, gt=0)
    #: actions held while they wait for `send_after`; above it, reading pauses
    max_pending: int = Field(default=100_000, gt=0)
    #: the sender's Prometheus endpoint (`/metrics`); 0 = none
    metrics_port: int = 9464
    metrics_host: str = "127.0.0.1"
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, v: list[str]) -> list[str]:
        unknown = [c for c in v if c not in CHANNELS]
        if unknown or not v:
            raise ValueError(f"channels must be some of {', '.join(CHANNELS)}; got {v}")
        return v

    @model_validator(mode="after")
    def _smtp_for_email_only(self) -> SenderSettings:
        wrong = [ch for ch, kind in self.providers.items() if kind == "smtp" and ch != "email"]
        if wrong:
            raise ValueError(f"the smtp provider sends email only; not {', '.join(wrong)}")
        return self

    def provider(self, channel: str) -> ProviderKind:
        return self.providers.get(channel, "console")
