from __future__ import annotations

from pathlib import Path

import pytest

from common.events import CHANNELS
from journeys.loader import load_dir
from senders.templates import TemplateError, Templates, example_action


def test_the_shipped_templates_cover_every_action_of_the_shipped_journeys() -> None:
    templates, journeys = Templates(), load_dir()
    for channel in CHANNELS:
        assert templates.check(journeys, channel) == []


def test_a_cart_reminder_names_the_items_and_says_when_they_run_low() -> None:
    journey = next(j for j in load_dir() if j.id == "cart_abandonment")
    step, spec = next((s, a) for s in journey.steps for a in s.actions or [] if a.type == "cart_reminder")
    action = example_action(journey, step.id, spec, "email")
    action["urgency"] = True
    action["items"] = [{"sku": "S-9", "name": "Red kettle", "price": 30.0, "quantity": 2, "stock": 2}]
    msg = Templates().render(action, "ann@example.test")
    assert msg.subject == "Selling fast: the items in your cart"
    assert "Red kettle x2, 30.00 (only 2 left)" in msg.body
    assert (msg.address, msg.channel, msg.action_id) == ("ann@example.test", "email", "example")


def test_a_channel_template_comes_before_the_general_one(tmp_path: Path) -> None:
    (tmp_path / "welcome.j2").write_text("{% block body %}general{% endblock %}")
    (tmp_path / "welcome.sms.j2").write_text("{% block body %}short{% endblock %}")
    t = Templates(tmp_path)
    base = {"action_id": "a", "action_type": "welcome", "attributes": {}}
    assert t.render({**base, "channel": "sms"}, "x").body == "short"
    assert t.render({**base, "channel": "email"}, "x").body == "general"


def test_missing_and_broken_templates_are_found_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "welcome.j2").write_text("{% block body %}Hi {{ attributes.nickname }}{% endblock %}")
    (tmp_path / "cart_reminder.j2").write_text("{% block body %}{{ items | first }{% endblock %}")
    problems = Templates(tmp_path).check(load_dir(), "email")
    text = "\n".join(problems)
    assert "no template for browse_reminder on email: add browse_reminder.j2" in text
    assert "cart_reminder.j2:1" in text  # the syntax error, with its line
    assert "welcome on email" in text and "nickname" in text  # undefined on the example action


def test_a_template_folder_that_is_not_there_says_which_setting() -> None:
    with pytest.raises(TemplateError, match="JOURNEY_SENDER__TEMPLATES"):
        Templates(Path("/no/such/folder"))
