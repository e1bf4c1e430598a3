"""`validate`: every error names the file, the exact line and what is expected.

Each test takes a small valid journey (BASE), breaks one thing and checks the problem's file,
line and message. `at()` also checks that the reported line really is the offending YAML line,
so a wrong line number shows up as the text of the line it pointed at.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml

from journeys.definition import Journey
from journeys.loader import ALL_INPUTS, DEFINITIONS, JourneyError, Problem, _lines, check, load_dir, parse

FILE = "journeys/definitions/test_journey.yaml"

BASE = dedent(
    """\
    id: test_journey
    version: 1
    name: Test journey
    entry:
      click: Product Added
    exit:
      - click: Order Completed
        reason: purchased
    steps:
      - id: start
        wait: {for: 30m}
      - id: decide
        branch:
          - when: {fact: customer.vip, is: true}
            goto: vip
          - otherwise: true
            goto: done
      - id: vip
        action:
          type: vip_offer
          purpose: marketing
        next: done
      - id: done
        exit: finished
    """
)


def mutate(old: str, new: str, text: str = BASE) -> str:
    """BASE with `old` (which must occur exactly once) replaced by `new`."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(JourneyError) as e:
        parse(text, FILE)
    assert e.value.problems, "a JourneyError lists its problems"
    assert str(e.value) == "\n".join(map(str, e.value.problems))
    return e.value.problems


def only(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def at(text: str, problem: Problem, line: int, starts: str) -> None:
    """`problem` is in FILE at `line`, and that line of `text` (stripped) starts with `starts`."""
    rows = text.splitlines()
    assert rows[line - 1].strip().startswith(starts), "the test's own line number is off"
    assert problem.file == FILE
    shown = rows[problem.line - 1].strip() if 0 < problem.line <= len(rows) else "<no such line>"
    assert problem.line == line, f"reported at line {problem.line} ({shown!r}), not {line} ({starts!r})"
    assert str(problem).startswith(f"{FILE}:{line}: ")


def lines_of(text: str) -> dict[tuple[Any, ...], int]:
    lines: dict[tuple[Any, ...], int] = {}
    _lines(yaml.compose(text, Loader=yaml.SafeLoader), (), lines)
    return lines


# ------------------------------------------------------------------------------------ valid files


def test_the_base_journey_is_valid() -> None:
    j = parse(BASE, FILE)
    assert isinstance(j, Journey)
    assert [s.id for s in j.steps] == ["start", "decide", "vip", "done"]
    assert check(j, FILE, lines_of(BASE)) == []


def test_every_shipped_definition_loads() -> None:
    journeys = load_dir()
    files = sorted(DEFINITIONS.glob("*.yaml"))
    assert len(files) >= 2
    assert len(journeys) == len(files)
    assert len({j.id for j in journeys}) == len(journeys), "journey ids are unique"
    assert {"cart_abandonment", "compliance_onboarding"} <= {j.id for j in journeys}


@pytest.mark.parametrize("path", sorted(DEFINITIONS.glob("*.yaml")), ids=lambda p: p.name)
def test_each_shipped_definition_has_no_problem(path: Path) -> None:
    text = path.read_text()
    j = parse(text, str(path))
    assert check(j, str(path), lines_of(text)) == []


# ------------------------------------------------------------------------------------ unknown fields


def test_unknown_field_in_a_step() -> None:
    text = mutate("wait: {for: 30m}", "wiat: {for: 30m}")
    p = only(text)
    at(text, p, 11, "wiat:")
    assert "unknown field 'wiat'" in p.message
    assert "steps.0.wiat" in p.message


def test_unknown_field_next_to_a_valid_one() -> None:
    text = mutate("    wait: {for: 30m}\n", "    wait: {for: 30m}\n    wiat: 1\n")
    p = only(text)
    at(text, p, 12, "wiat:")
    assert "unknown field 'wiat'" in p.message


def test_unknown_top_level_field() -> None:
    text = mutate("name: Test journey\n", "name: Test journey\nnmae: typo\n")
    p = only(text)
    at(text, p, 4, "nmae:")
    assert p.message == "nmae: unknown field 'nmae'"


def test_unknown_field_in_a_wait() -> None:
    text = mutate("wait: {for: 30m}", "wait: {for: 30m, untill: later}")
    p = only(text)
    at(text, p, 11, "wait:")
    assert "unknown field 'untill'" in p.message


def test_unknown_field_with_a_block_value_points_at_its_key() -> None:
    # PRODUCT BUG (journeys/loader.py `_lines`, lines 56-57): the key's own line is stored and
    # then overwritten by the line where its value starts, so a block-valued key is reported
    # one line too low: here line 12 (`for: 30m`) instead of line 11 (`wiat:`).
    text = mutate("    wait: {for: 30m}\n", "    wiat:\n      for: 30m\n")
    p = only(text)
    assert "unknown field 'wiat'" in p.message
    at(text, p, 11, "wiat:")


def test_unknown_field_in_an_action_points_at_it() -> None:
    # PRODUCT BUG (journeys/loader.py `_line_of`): `action:` in the file is `actions.0` in the
    # model; `_line_of` trims the first variant down to `steps.2` (which exists) before it ever
    # tries the `action` variant, so every error inside an action is reported at the step's
    # `- id:` line (18) instead of the key's line (22).
    text = mutate("      purpose: marketing\n", "      purpose: marketing\n      chanel: sms\n")
    p = only(text)
    assert "unknown field 'chanel'" in p.message
    at(text, p, 22, "chanel:")


# ------------------------------------------------------------------------------------ step references


def test_goto_to_a_missing_step() -> None:
    text = mutate("goto: vip", "goto: vipp")
    problems = problems_of(text)
    p = next(p for p in problems if "'vipp'" in p.message)
    at(text, p, 15, "goto: vipp")
    assert p.message == (
        "step 'decide' goes to 'vipp', which is not a step; steps are: start, decide, vip, done"
    )
    # the step nothing goes to any more is reported too
    assert any("'vip' is unreachable" in q.message for q in problems)


def test_next_to_a_missing_step() -> None:
    text = mutate("next: done", "next: dnoe")
    p = only(text)
    at(text, p, 22, "next: dnoe")
    assert p.message == (
        "step 'vip' goes to 'dnoe', which is not a step; steps are: start, decide, vip, done"
    )


def test_wait_event_to_a_missing_step() -> None:
    text = mutate(
        "    wait: {for: 30m}\n",
        "    wait:\n      for: 30m\n      events:\n        - click: Cart Viewed\n          goto: nowhere\n",
    )
    p = only(text)
    at(text, p, 15, "goto: nowhere")
    assert "step 'start' goes to 'nowhere', which is not a step" in p.message
    assert "steps are: start, decide, vip, done" in p.message


def test_unreachable_step() -> None:
    text = mutate("goto: vip", "goto: done")
    p = only(text)
    at(text, p, 18, "- id: vip")
    assert p.message == "step 'vip' is unreachable from 'start'"


def test_duplicated_step_id() -> None:
    text = BASE + "  - id: done\n    exit: again\n"
    problems = problems_of(text)
    assert [p.message for p in problems] == ["step id 'done' is used twice"] * 2
    at(text, problems[0], 23, "- id: done")
    at(text, problems[1], 25, "- id: done")


# ------------------------------------------------------------------------------- waits, durations, splits


def test_wait_with_no_way_out() -> None:
    text = mutate("wait: {for: 30m}", "wait: {}")
    p = only(text)
    at(text, p, 11, "wait:")
    assert p.message.startswith("steps.0.wait: ")
    assert "no deadline" in p.message
    assert "`events`" in p.message
    assert "never ends" in p.message


def test_wait_with_two_deadlines() -> None:
    text = mutate("wait: {for: 30m}", "wait: {for: 30m, quiet: 1h}")
    p = only(text)
    at(text, p, 11, "wait:")
    assert "a wait has one deadline: for, quiet, until_date or until_time" in p.message


@pytest.mark.parametrize("bad", ["30 minutes", "1.5h", "m30", "30 m"])
def test_bad_duration(bad: str) -> None:
    text = mutate("    wait: {for: 30m}\n", f"    wait:\n      for: {bad}\n")
    p = only(text)
    at(text, p, 12, "for:")
    assert p.message.startswith("steps.0.wait.for: ")
    assert r"^\d+(ms|s|m|h|d)$" in p.message


def test_bad_cooldown_duration() -> None:
    text = mutate("steps:\n", "reentry: {policy: cooldown, cooldown: 1 week}\nsteps:\n")
    p = only(text)
    at(text, p, 9, "reentry:")
    assert p.message.startswith("reentry.cooldown: ")
    assert r"^\d+(ms|s|m|h|d)$" in p.message


def test_split_shares_not_adding_up_to_100() -> None:
    text = mutate(
        "  - id: decide\n",
        "  - id: ab\n    split: {variants: {a: 50, b: 40}, holdout: 5}\n  - id: decide\n",
    )
    p = only(text)
    at(text, p, 13, "split:")
    assert p.message == "steps.1.split: variant shares and holdout add up to 95, not 100"


# ------------------------------------------------------------------------------------ facts


def test_unknown_fact_in_a_branch_condition() -> None:
    text = mutate("fact: customer.vip,", "fact: customer.vipp,")
    p = only(text)
    at(text, p, 14, "- when:")
    assert p.message.startswith("unknown fact 'customer.vipp'; facts of 'customer': ")
    assert "customer.vip" in p.message.split(";", 1)[1]


def test_unknown_fact_of_an_unknown_kind_lists_every_fact() -> None:
    text = mutate("fact: customer.vip,", "fact: nonsense.x,")
    p = only(text)
    at(text, p, 14, "- when:")
    assert p.message.startswith("unknown fact 'nonsense.x'; known facts: ")
    assert "customer.vip" in p.message and "cart.low_stock" in p.message


@pytest.mark.parametrize(
    ("old", "new", "line", "starts"),
    [
        (  # nested in `all:`
            "{fact: customer.vip, is: true}",
            "{all: [{fact: customer.vip, is: true}, {fact: cart.lowstock, is: true}]}",
            14,
            "- when:",
        ),
        (  # an exit condition
            "    reason: purchased\n",
            "    reason: purchased\n    when: {fact: order.statuss, is: paid}\n",
            9,
            "when:",
        ),
        (  # an action attribute placeholder
            "      purpose: marketing\n",
            "      purpose: marketing\n      attributes: {tier: '{customer.tierr}'}\n",
            22,
            "attributes:",
        ),
        (  # an action's once_per
            "      purpose: marketing\n",
            "      purpose: marketing\n      once_per: [customer.vipp]\n",
            22,
            "once_per:",
        ),
    ],
    ids=["all", "exit", "attribute", "once_per"],
)
def test_unknown_fact_elsewhere(old: str, new: str, line: int, starts: str) -> None:
    text = mutate(old, new)
    p = only(text)
    at(text, p, line, starts)
    assert p.message.startswith("unknown fact '")


def test_unknown_fact_in_an_actions_list_points_at_it() -> None:
    # PRODUCT BUG (journeys/loader.py `check`, lines 252-257 with `at` at 167-168): facts of an
    # action are looked up under `steps.i.action...` only; with the list form `actions:` that
    # path does not exist, `at` falls back one level only and then to line 1.
    text = mutate(
        "    action:\n      type: vip_offer\n      purpose: marketing\n",
        "    actions:\n"
        "      - type: vip_offer\n"
        "        purpose: marketing\n"
        "        once_per: [customer.vipp]\n",
    )
    p = only(text)
    assert p.message.startswith("unknown fact 'customer.vipp'")
    at(text, p, 22, "once_per:")


def test_typo_in_a_fact_test_names_only_the_typo() -> None:
    # PRODUCT BUG (journeys/loader.py `_dedupe_unions`): the AllOf/AnyOf/NotOf members of the
    # Condition union also reject `fact`, and that noise survives: besides "unknown field 'iss'"
    # the user is told "unknown field 'fact'", which is wrong.
    text = mutate("fact: customer.vip, is: true", "fact: customer.vip, iss: true")
    problems = problems_of(text)
    assert any("unknown field 'iss'" in p.message for p in problems)
    at(text, problems[0], 14, "- when:")
    assert [p.message for p in problems if "'fact'" in p.message] == []


def test_fact_whose_inputs_the_job_does_not_read() -> None:
    text = mutate("fact: customer.vip,", "fact: cart.low_stock,")
    journey = parse(text, FILE)  # every input is read by default
    inputs = ALL_INPUTS - {"inventory.stock_levels"}
    problems = check(journey, FILE, lines_of(text), inputs=inputs)
    assert len(problems) == 1
    at(text, problems[0], 14, "- when:")
    assert problems[0].message == (
        "fact 'cart.low_stock' needs inventory.stock_levels, which this job does not read"
    )


def test_fact_whose_inputs_the_job_does_not_read_lists_every_missing_one() -> None:
    text = mutate("fact: customer.vip,", "fact: cart.in_stock_at_nearest_store,")
    journey = parse(text, FILE)
    problems = check(journey, FILE, lines_of(text), inputs=frozenset({"clickstream"}))
    assert [p.message for p in problems] == [
        "fact 'cart.in_stock_at_nearest_store' needs crm.customers, inventory.stock_levels, "
        "inventory.stores, which this job does not read"
    ]
    assert problems[0].line == 14


def test_facts_without_inputs_need_none() -> None:
    text = mutate("fact: customer.vip, is: true", "fact: instance.touches, at_least: 2")
    journey = parse(text, FILE)
    assert check(journey, FILE, lines_of(text), inputs=frozenset()) == []


# ------------------------------------------------------------------------------------ tables


def test_change_of_a_table_that_is_not_captured() -> None:
    text = mutate("  click: Product Added\n", "  change: orders.returns\n")
    p = only(text)
    at(text, p, 5, "change:")
    assert p.message.startswith("entry.change: ")
    assert "'orders.returns' is not a captured table" in p.message
    assert "orders.orders" in p.message and "onboarding.applications" in p.message


def test_change_of_a_table_in_an_exit_that_is_not_captured() -> None:
    text = mutate("  - click: Order Completed\n", "  - change: orders.returns\n")
    p = only(text)
    at(text, p, 7, "- change:")
    assert p.message.startswith("exit.0.change: ")
    assert "'orders.returns' is not a captured table" in p.message and "orders.orders" in p.message


def test_change_of_a_table_the_job_does_not_read() -> None:
    text = mutate("  - click: Order Completed\n", "  - change: orders.orders\n")
    journey = parse(text, FILE)
    problems = check(journey, FILE, lines_of(text), inputs=ALL_INPUTS - {"orders.orders"})
    assert len(problems) == 1
    at(text, problems[0], 7, "- change:")
    assert problems[0].message == "table 'orders.orders' is not an input of this job"


# ------------------------------------------------------------------------------------ not YAML


def test_malformed_yaml() -> None:
    text = mutate("    wait: {for: 30m}", "   wait: {for: 30m}")  # one space short
    p = only(text)
    at(text, p, 11, "wait:")
    assert p.message.startswith("not valid YAML: ")


def test_unclosed_flow_mapping() -> None:
    text = mutate("name: Test journey", "name: {Test journey")
    p = only(text)
    assert p.message.startswith("not valid YAML: ")
    # the parser notices at the next key; the message quotes the line the mapping opened on
    at(text, p, 4, "entry:")
    assert "line 3" in p.message


@pytest.mark.parametrize("text", ["", "# nothing\n", "- a\n- b\n", "just text\n"])
def test_not_a_mapping(text: str) -> None:
    p = only(text)
    assert p.file == FILE and p.line == 1
    assert p.message == "expected a mapping with id, version, name, entry and steps"
