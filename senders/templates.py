"""Messages from actions: a Jinja2 template per action type, optionally per channel.

A folder holds `<action_type>.<channel>.j2` (used first) or `<action_type>.j2` (any channel).
A template defines a `body` block and, for channels that show one, a `subject` block (the email
subject, the push or in-app title). The context is the action as the topic carries it (items,
store, attributes, ...) plus `address`. Undefined names are errors, so a template is checked at
start by rendering it with an example of every action the journeys can send on that channel:
a missing or broken template stops the sender before it reads anything, not at send time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from journeys.definition import ActionSpec, Journey

SHIPPED = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True, slots=True)
class Message:
    channel: str
    address: str
    subject: str
    body: str
    action_id: str


class TemplateError(RuntimeError):
    """A template is missing or does not render; says which and what to do."""


def _money(value: Any) -> str:
    return "" if value is None else f"{float(value):.2f}"


def _when(ms: Any) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(int(ms) / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


class Templates:
    def __init__(self, folder: Path = SHIPPED) -> None:
        if not folder.is_dir():
            raise TemplateError(f"the template folder {folder} does not exist: set JOURNEY_SENDER__TEMPLATES")
        self.folder = folder
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text messages; an HTML channel would escape in its template
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["money"] = _money
        self._env.filters["when"] = _when
        self._cache: dict[tuple[str, str], jinja2.Template] = {}

    def template(self, action_type: str, channel: str) -> jinja2.Template:
        key = (action_type, channel)
        hit = self._cache.get(key)
        if hit is None:
            names = [f"{action_type}.{channel}.j2", f"{action_type}.j2"]
            try:
                hit = self._env.select_template(names)
            except jinja2.TemplatesNotFound:
                raise TemplateError(
                    f"no template for {action_type} on {channel}: add {names[1]} (or {names[0]}) "
                    f"to {self.folder}"
                ) from None
            except jinja2.TemplateSyntaxError as e:
                raise TemplateError(f"{e.filename or e.name}:{e.lineno}: {e.message}") from None
            if "body" not in hit.blocks:
                raise TemplateError(f"{hit.filename}: defines no `body` block")
            self._cache[key] = hit
        return hit

    def render(self, action: Mapping[str, Any], address: str) -> Message:
        channel = action["channel"]
        tpl = self.template(action["action_type"], channel)
        ctx = tpl.new_context({**action, "address": address})
        subject = "".join(tpl.blocks["subject"](ctx)).strip() if "subject" in tpl.blocks else ""
        body = "".join(tpl.blocks["body"](ctx)).strip()
        return Message(channel, address, subject, body, action["action_id"])

    def check(self, journeys: Iterable[Journey], channel: str) -> list[str]:
        """Every problem with the templates of the actions the journeys can send on `channel`:
        missing, not parsing, or failing on an example of the action."""
        problems: list[str] = []
        seen: set[str] = set()
        for journey in journeys:
            for step in journey.steps:
                for spec in step.actions or []:
                    if spec.channel not in (None, "preferred", channel):
                        continue
                    try:
                        self.render(example_action(journey, step.id, spec, channel), "someone@example.test")
                    except TemplateError as e:
                        if str(e) not in seen:
                            seen.add(str(e))
                            problems.append(str(e))
                    except Exception as e:  # a template's own error (undefined name, bad filter)
                        where = f"{spec.type} on {channel} ({journey.id}, step {step.id})"
                        msg = f"the template for {where} fails on an example action: {type(e).__name__}: {e}"
                        if msg not in seen:
                            seen.add(msg)
                            problems.append(msg)
        return problems


def example_action(journey: Journey, step_id: str, spec: ActionSpec, channel: str) -> dict[str, Any]:
    """An action as this step would send it, with made-up values: items, alternatives and store
    when the step sends them, and the attributes it names."""
    item = {
        "sku": "SKU-1",
        "name": "Trail shoe",
        "category": "shoes",
        "price": 89.9,
        "quantity": 1,
        "stock": 3,
    }
    return {
        "action_id": "example",
        "customer_id": "c-example",
        "journey_id": journey.id,
        "journey_version": journey.version,
        "step_id": step_id,
        "action_type": spec.type,
        "channel": channel,
        "purpose": spec.purpose,
        "variant": None,
        "items": [item] if spec.items != "none" else [],
        "alternatives": [item] * spec.alternatives,
        "store": {"store_id": "s-1", "name": "Centre", "distance_km": 1.2, "stock": 3}
        if spec.store
        else None,
        "urgency": spec.urgency != "never",
        "attributes": {k: f"<{k}>" for k in spec.attributes},
        "reason": spec.reason,
        "trigger_event_id": "e-example",
        "decided_at": 0,
        "send_after": 0,
        "expires_at": None,
    }
