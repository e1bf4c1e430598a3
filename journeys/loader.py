"""Loading journey files, and `validate`: every error names the file, the line and what is expected."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from common.events import CDC_TABLES
from journeys.definition import AllOf, AnyOf, Condition, FactTest, Journey, Match, Wait
from journeys.facts import FACTS

_PLACEHOLDER = re.compile(r"\{([a-z_.]+)\}")
DEFINITIONS = Path(__file__).resolve().parent / "definitions"
#: every input the job reads by default; a deployment without one of them passes a smaller set
ALL_INPUTS = frozenset({"clickstream", "channel-feedback", *CDC_TABLES})


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class JourneyError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    # a key's own line wins over the line its (block) value starts on
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[(*path, key)] = k.start_mark.line + 1
            _lines(v, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, (*path, i), out)


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    """The line of the deepest part of `loc` that the file has."""
    variants = [loc]
    if "actions" in loc:  # `action: {...}` in the file is `actions: [{...}]` in the model
        i = loc.index("actions")
        variants.append((*loc[:i], "action", *loc[i + 2 :]))
    best: tuple[int, int] = (-1, 1)
    for parts in variants:
        while parts:
            if parts in lines:
                best = max(best, (len(parts), lines[parts]))
                break
            parts = parts[:-1]
    return best[1]


_ALIASES = {"for_": "for", "is_": "is", "in_": "in", "not_": "not"}


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic's location as the path of YAML keys: drop the tags of the discriminated Condition
    union (fact, all, any, not, right where a condition sits) and use the YAML spellings."""
    out: list[Any] = []
    expect_tag = False
    for p in loc:
        if expect_tag and p in ("fact", "all", "any", "not"):
            expect_tag = False
            continue
        expect_tag = False
        out.append(_ALIASES.get(p, p))
        if p in ("when", "audience", "not", "not_") or (
            isinstance(p, int) and len(out) >= 2 and out[-2] in ("all", "any")
        ):
            expect_tag = True
    return tuple(out)


def parse(text: str, file: str) -> Journey:
    """One journey from YAML text, or a JourneyError listing every problem with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise JourneyError([Problem(file, mark.line + 1 if mark else 1, f"not valid YAML: {e}")]) from None
    if not isinstance(data, dict) or node is None:
        raise JourneyError([Problem(file, 1, "expected a mapping with id, version, name, entry and steps")])
    lines: dict[tuple[Any, ...], int] = {}
    _lines(node, (), lines)
    try:
        journey = Journey.model_validate(data)
    except ValidationError as e:
        problems = []
        seen = set()
        for err in e.errors():
            loc = _clean_loc(tuple(err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            where = ".".join(map(str, loc)) or "<top>"
            if err["type"] == "extra_forbidden":
                msg = f"unknown field {loc[-1]!r}"
            text_ = f"{where}: {msg}"
            if text_ in seen:
                continue
            seen.add(text_)
            problems.append(Problem(file, _line_of(lines, loc), text_))
        raise JourneyError(problems) from None
    problems = check(journey, file, lines)
    if problems:
        raise JourneyError(problems)
    return journey


def _conditions(c: Condition | None) -> Iterable[FactTest]:
    if c is None:
        return
    if isinstance(c, FactTest):
        yield c
    elif isinstance(c, AllOf):
        for x in c.all:
            yield from _conditions(x)
    elif isinstance(c, AnyOf):
        for x in c.any:
            yield from _conditions(x)
    else:
        yield from _conditions(c.not_)


def check(
    journey: Journey, file: str, lines: dict[tuple[Any, ...], int], inputs: frozenset[str] = ALL_INPUTS
) -> list[Problem]:
    """What the schema cannot see: step references, reachability, ways out of waits, facts."""
    problems: list[Problem] = []
    ids = [s.id for s in journey.steps]
    index = {s: i for i, s in enumerate(ids)}

    def at(*loc: Any) -> int:
        return _line_of(lines, tuple(loc))

    dupes = {i for i in ids if ids.count(i) > 1}
    for i, s in enumerate(journey.steps):
        if s.id in dupes:
            problems.append(Problem(file, at("steps", i, "id"), f"step id {s.id!r} is used twice"))

    def targets(i: int) -> list[tuple[str, tuple[Any, ...]]]:
        s = journey.steps[i]
        out: list[tuple[str, tuple[Any, ...]]] = []
        if s.branch is not None:
            out += [(b.goto, ("steps", i, "branch", j, "goto")) for j, b in enumerate(s.branch)]
        elif s.exit is None:
            nxt = journey.next_of(s)
            if nxt is not None:
                out.append((nxt, ("steps", i, "next")))
        if s.wait is not None:
            out += [(o.goto, ("steps", i, "wait", "events", j, "goto")) for j, o in enumerate(s.wait.events)]
        return out

    for i in range(len(ids)):
        for target, loc in targets(i):
            if target not in index:
                problems.append(
                    Problem(
                        file,
                        at(*loc),
                        f"step {ids[i]!r} goes to {target!r}, which is not a step; "
                        f"steps are: {', '.join(ids)}",
                    )
                )
    reached = {ids[0]} if ids else set()
    todo = [0] if ids else []
    while todo:
        i = todo.pop()
        for target, _ in targets(i):
            if target in index and target not in reached:
                reached.add(target)
                todo.append(index[target])
    for i, s in enumerate(journey.steps):
        if s.id not in reached:
            problems.append(
                Problem(file, at("steps", i, "id"), f"step {s.id!r} is unreachable from {ids[0]!r}")
            )
        if s.wait is not None:
            w: Wait = s.wait
            for name, key in ((w.until_date, "until_date"), (w.until_time, "until_time")):
                if name is not None:
                    problems += _fact_problems(name, file, at("steps", i, "wait", key), inputs)

    def conds(c: Condition | None, *loc: Any) -> None:
        for t in _conditions(c):
            problems.extend(_fact_problems(t.fact, file, at(*loc), inputs))

    def match(m: Match, *loc: Any) -> None:
        conds(m.when, *loc, "when")
        if m.change is not None and m.change not in inputs:
            problems.append(
                Problem(file, at(*loc, "change"), f"table {m.change!r} is not an input of this job")
            )

    match(journey.entry, "entry")
    conds(journey.audience, "audience")
    for j, ex in enumerate(journey.exit):
        match(ex, "exit", j)
    for j, cancel in enumerate(journey.cancel):
        match(cancel, "cancel", j)
    for j, act in enumerate(journey.activity):
        match(act, "activity", j)
    for i, s in enumerate(journey.steps):
        for j, b in enumerate(s.branch or ()):
            conds(b.when, "steps", i, "branch", j, "when")
        for j, o in enumerate(s.wait.events if s.wait else ()):
            match(o, "steps", i, "wait", "events", j)
        for j, a in enumerate(s.actions or ()):
            for f in a.once_per:
                problems += _fact_problems(f, file, at("steps", i, "actions", j, "once_per"), inputs)
            for k, v in a.attributes.items():
                for name in _placeholders(v):
                    problems += _fact_problems(
                        name, file, at("steps", i, "actions", j, "attributes", k), inputs
                    )
            for name in _placeholders(a.reason):
                problems += _fact_problems(name, file, at("steps", i, "actions", j, "reason"), inputs)
    return problems


def _placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def _fact_problems(name: str, file: str, line: int, inputs: frozenset[str]) -> list[Problem]:
    fact = FACTS.get(name)
    if fact is None:
        near = sorted(f for f in FACTS if f.split(".")[0] == name.split(".")[0])
        hint = (
            f"; facts of {name.split('.')[0]!r}: {', '.join(near)}"
            if near
            else f"; known facts: {', '.join(sorted(FACTS))}"
        )
        return [Problem(file, line, f"unknown fact {name!r}{hint}")]
    missing = fact.inputs - inputs
    if missing:
        return [
            Problem(
                file, line, f"fact {name!r} needs {', '.join(sorted(missing))}, which this job does not read"
            )
        ]
    return []


def load_file(path: Path) -> Journey:
    return parse(path.read_text(), str(path))


def load_dir(directory: Path = DEFINITIONS) -> list[Journey]:
    journeys, problems = [], []
    for path in sorted(directory.glob("*.yaml")):
        try:
            journeys.append(load_file(path))
        except JourneyError as e:
            problems += e.problems
    if problems:
        raise JourneyError(problems)
    return journeys
