"""Journey definitions: YAML files validated into typed models.

A journey is a small state machine. It is entered on a click or a change, once per key (the
customer, a cart, an order, a shipment or an application); its steps wait, branch on facts,
split traffic, take actions and exit; exit conditions end it the moment their event arrives.
See journeys/definitions/*.yaml for the shipped ones and docs/journeys.md for the language.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from common.events import CDC_TABLES

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

Key = Literal["customer", "cart", "order", "shipment", "application"]
Purpose = Literal["marketing", "transactional"]
ChannelName = Literal["email", "sms", "push", "in_app"]


def _table(v: Any) -> Any:
    if v not in CDC_TABLES:
        raise ValueError(f"{v!r} is not a captured table; tables are: {', '.join(CDC_TABLES)}")
    return v


TableName = Annotated[str, BeforeValidator(_table)]


@cache  # the engine converts the same few literals on every wait
def duration_ms(text: str) -> int:
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration: use a number and ms, s, m, h or d, e.g. 30m or 2d")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration_text(v: Any) -> Any:
    if not isinstance(v, str):
        raise ValueError(
            f"expected a duration such as 30m, 24h or 2d (a number and ms, s, m, h or d), got {v!r}"
        )
    return v


Duration = Annotated[
    str, BeforeValidator(_duration_text), Field(pattern=r"^\d+(ms|s|m|h|d)$", description="e.g. 30m, 24h, 2d")
]


# ------------------------------------------------------------------------------------ conditions


class FactTest(Strict):
    """One test of one fact: `{fact: shipment.status, in: [delayed, exception]}`."""

    fact: str
    is_: Any = Field(default=None, alias="is")
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    at_least: Any = None
    at_most: Any = None
    changed: bool | None = None
    went_up: bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_test(self) -> FactTest:
        given = [
            n
            for n in ("is_", "in_", "not_in", "at_least", "at_most", "changed", "went_up")
            if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "a fact test needs exactly one of: is, in, not_in, at_least, at_most, changed, went_up"
            )
        return self


class AllOf(Strict):
    all: list[Condition]


class AnyOf(Strict):
    any: list[Condition]


class NotOf(Strict):
    not_: Condition = Field(alias="not")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _condition_kind(v: Any) -> str:
    if isinstance(v, dict):
        for key in ("all", "any", "not"):
            if key in v:
                return key
        return "fact"
    kinds: dict[type, str] = {AllOf: "all", AnyOf: "any", NotOf: "not"}
    return kinds.get(type(v), "fact")


# Discriminated by the key the YAML uses, so that a typo in a fact test is reported once, for the
# form that was meant, not once for every form of condition.
Condition = Annotated[
    Annotated[FactTest, Tag("fact")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")],
    Discriminator(_condition_kind),
]


# ------------------------------------------------------------------------------------ events


class Match(Strict):
    """Which input event this is about: a click by name, a change of a table, or channel feedback."""

    click: list[str] | None = None
    change: TableName | None = None
    #: Debezium ops that count (snapshot reads count as inserts)
    ops: list[Literal["c", "u", "d", "r"]] | None = None
    #: the event must be about this instance's key (its cart, order, shipment, application)
    same: Key | None = None
    when: Condition | None = None

    @field_validator("click", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_source(self) -> Match:
        if (self.click is None) == (self.change is None):
            raise ValueError("an event match names either `click` (event names) or `change` (a table)")
        return self


class Exit(Match):
    reason: str
    #: reaching it counts as a conversion (journey-event `converted`)
    goal: bool = False


class Cancel(Match):
    """An event that makes the instance's deferred messages wrong without ending the instance
    (or after it ended): they are suppressed with reason `cancelled`."""

    reason: str


# ------------------------------------------------------------------------------------ actions


class ActionSpec(Strict):
    type: str
    purpose: Purpose
    #: a fixed channel, `preferred` (the customer's preferred channel when it can be used), or
    #: none: the channel the customer engages with most, among those with consent
    channel: ChannelName | Literal["preferred"] | None = None
    #: what the message is about: the cart's items (all, or those in stock) or the viewed
    #: products in stock; alternatives and store below
    items: Literal["cart", "cart_in_stock", "viewed_in_stock", "none"] = "none"
    alternatives: int = Field(default=0, ge=0, le=10)
    store: bool = False
    urgency: Literal["low_stock", "never"] = "never"
    #: name -> literal text, or `{fact}` placeholders filled from facts
    attributes: dict[str, str] = Field(default_factory=dict)
    #: the action is never sent twice for the same values of these facts within an instance
    once_per: list[str] = Field(default_factory=list)
    expires_after: Duration | None = None
    reason: str = ""


# ------------------------------------------------------------------------------------ steps


class On(Match):
    goto: str


class Wait(Strict):
    #: a fixed time from the moment the step starts
    for_: Duration | None = Field(default=None, alias="for")
    #: no activity (see `activity`) for this long; activity restarts the clock
    quiet: Duration | None = None
    #: a moment from the data: a date fact at a local time in the customer's time zone
    until_date: str | None = None
    local_time: str | None = None
    #: from a time fact (ms) plus an offset, e.g. 2h after delivered_at
    until_time: str | None = None
    after: Duration | None = None
    #: events that end the wait early, each to its own step
    events: list[On] = Field(default_factory=list)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_deadline(self) -> Wait:
        kinds = [
            self.for_ is not None,
            self.quiet is not None,
            self.until_date is not None,
            self.until_time is not None,
        ]
        if sum(kinds) > 1:
            raise ValueError("a wait has one deadline: for, quiet, until_date or until_time")
        if sum(kinds) == 0 and not self.events:
            raise ValueError("a wait with no deadline needs at least one of `events` (or it never ends)")
        if self.until_date is not None and self.local_time is None:
            raise ValueError("until_date needs local_time, e.g. '10:00'")
        if self.local_time is not None and not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", self.local_time):
            raise ValueError(f"local_time {self.local_time!r} is not HH:MM")
        return self


class Branch(Strict):
    when: Condition | None = None
    otherwise: bool = False
    goto: str

    @model_validator(mode="after")
    def _when_or_otherwise(self) -> Branch:
        if (self.when is None) == (not self.otherwise):
            raise ValueError("a branch has either `when` or `otherwise: true`")
        return self


class Split(Strict):
    #: variant name -> share in percent; with the holdout they add up to 100
    variants: dict[str, int]
    holdout: int = 0

    @model_validator(mode="after")
    def _shares(self) -> Split:
        total = sum(self.variants.values()) + self.holdout
        if total != 100:
            raise ValueError(f"variant shares and holdout add up to {total}, not 100")
        return self


class Step(Strict):
    id: str
    wait: Wait | None = None
    actions: list[ActionSpec] | None = None
    branch: list[Branch] | None = None
    split: Split | None = None
    exit: str | None = None
    #: the step that follows (default: the next in the list); not for branch and exit
    next: str | None = None

    @field_validator("actions", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @model_validator(mode="before")
    @classmethod
    def _action_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "action" in data:
            data = dict(data)
            data["actions"] = [data.pop("action")]
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in ("wait", "actions", "branch", "split", "exit") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"step {self.id!r}: a step is exactly one of wait, action(s), branch, split, exit; "
                f"got {', '.join(kinds) or 'none'}"
            )
        if self.branch is not None and self.next is not None:
            raise ValueError(f"step {self.id!r}: a branch goes where its arms say; `next` is not used")
        return self

    @property
    def kind(self) -> str:
        for k in ("wait", "actions", "branch", "split", "exit"):
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated")


class Entry(Match):
    #: event fields that must be present, e.g. cart_id
    require: list[str] = Field(default_factory=list)


class Reentry(Strict):
    policy: Literal["once", "once_per_key", "cooldown"] = "once_per_key"
    cooldown: Duration | None = None

    @model_validator(mode="after")
    def _cooldown(self) -> Reentry:
        if (self.policy == "cooldown") != (self.cooldown is not None):
            raise ValueError("policy cooldown needs `cooldown: <duration>`, and only it")
        return self


class Journey(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    name: str
    description: str = ""
    entry: Entry
    key: Key = "customer"
    reentry: Reentry = Field(default_factory=Reentry)
    audience: Condition | None = None
    #: events that count as activity for `quiet` waits
    activity: list[Match] = Field(default_factory=list)
    exit: list[Exit] = Field(default_factory=list)
    #: events that cancel the instance's deferred messages (its exit conditions do too)
    cancel: list[Cancel] = Field(default_factory=list)
    #: journey parameters, available to facts (e.g. low_stock_threshold)
    params: dict[str, float | int | str] = Field(default_factory=dict)
    #: channels a jurisdiction forbids for marketing: {DE: [sms]}
    forbid_marketing: dict[str, list[ChannelName]] = Field(default_factory=dict)
    steps: list[Step]

    def step(self, step_id: str) -> Step:
        return self._steps[step_id]

    def next_of(self, step: Step) -> str | None:
        if step.next is not None:
            return step.next
        i = self._order[step.id]
        return self.steps[i + 1].id if i + 1 < len(self.steps) else None

    def model_post_init(self, __context: Any) -> None:
        object.__setattr__(self, "_steps", {s.id: s for s in self.steps})
        object.__setattr__(self, "_order", {s.id: i for i, s in enumerate(self.steps)})

    _steps: dict[str, Step]
    _order: dict[str, int]


AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()
Match.model_rebuild()
