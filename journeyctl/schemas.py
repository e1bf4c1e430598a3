"""`journeyctl schemas register|check`: the Avro contracts this project owns, in the registry.

Subjects follow the TopicNameStrategy (`<topic>-value`) with compatibility BACKWARD. `check`
refuses a schema change that is not backward compatible with the committed history of its file
(every commit against the one before it, and the working tree against HEAD) and, when the
registry answers, with the version registered under each of its subjects.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.settings import REPO, Settings
from connectors.avro import SCHEMAS_DIR, RegistryClient
from connectors.compat import backward_errors


def subjects(settings: Settings) -> list[tuple[str, str]]:
    """(subject, schema file stem) for every topic whose value schema this project owns."""
    t = settings.topics
    pairs = [(topic, "action") for topic in t.actions.values()]
    pairs += [
        (t.journey_events, "journey_event"),
        (t.dead_letter, "dead_letter"),
        (t.channel_feedback, "channel_feedback"),
        (t.clickstream, "clickstream_event"),
    ]
    return [(f"{topic}-value", stem) for topic, stem in pairs]


def register(settings: Settings, schemas_dir: Path = SCHEMAS_DIR) -> dict[str, int]:
    registry = RegistryClient(settings.registry.client_config())
    ids = {}
    for subject, stem in subjects(settings):
        schema = json.loads((schemas_dir / f"{stem}.avsc").read_text())
        ids[subject] = registry.register(subject, schema)
        registry.set_compatibility(subject, "BACKWARD")
        print(f"  {subject:32s} id {ids[subject]:<5} ({stem}.avsc, BACKWARD)")
    return ids


@dataclass(frozen=True)
class Problem:
    file: str
    against: str
    errors: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.file}: not backward compatible with {self.against}:\n    " + "\n    ".join(self.errors)


def _git(repo: Path, *args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    return r.stdout if r.returncode == 0 else None


def history(path: Path, repo: Path = REPO) -> list[tuple[str, dict[str, Any]]]:
    """(label, schema) of a file: the working tree, then each commit that changed it, newest first."""
    rel = path.resolve().relative_to(repo.resolve()).as_posix()
    versions: list[tuple[str, dict[str, Any]]] = [("the working tree", json.loads(path.read_text()))]
    commits = _git(repo, "log", "--format=%h", "--", rel)
    for commit in (commits or "").split():
        text = _git(repo, "show", f"{commit}:{rel}")
        if text is not None:
            versions.append((f"commit {commit}", json.loads(text)))
    return versions


def check_history(files: Iterable[Path], repo: Path = REPO) -> list[Problem]:
    problems = []
    for path in files:
        versions = history(path, repo)
        for (new_label, new), (old_label, old) in itertools.pairwise(versions):
            if new == old:
                continue
            errors = backward_errors(new, old)
            if errors:
                problems.append(Problem(f"{path.name} ({new_label})", old_label, tuple(errors)))
    return problems


def check_registry(settings: Settings, schemas_dir: Path = SCHEMAS_DIR) -> list[Problem]:
    registry = RegistryClient(settings.registry.client_config())
    problems = []
    for subject, stem in subjects(settings):
        schema = json.loads((schemas_dir / f"{stem}.avsc").read_text())
        latest = registry.latest(subject)
        if latest is None:
            continue
        if not registry.test_compatibility(subject, schema):
            errors = backward_errors(schema, latest) or [
                "the registry refuses it (see its compatibility rules)"
            ]
            problems.append(Problem(f"{stem}.avsc", f"the version registered under {subject}", tuple(errors)))
    return problems


def registry_answers(settings: Settings) -> bool:
    import httpx

    try:
        return httpx.get(settings.registry.url.rstrip("/") + "/subjects", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def check(settings: Settings, schemas_dir: Path = SCHEMAS_DIR, registry: bool | None = None) -> int:
    files = sorted(schemas_dir.glob("*.avsc"))
    problems = check_history(files)
    print(f"schemas: {len(files)} files checked against their committed history")
    use_registry = registry_answers(settings) if registry is None else registry
    if use_registry:
        problems += check_registry(settings, schemas_dir)
        print(f"schemas: checked against the registry at {settings.registry.url}")
    else:
        print("schemas: registry not reachable, so checked against the committed history only")
    for p in problems:
        print(f"ERROR {p}")
    if problems:
        print(
            "A breaking change needs a new subject (a new topic or record name), not a new version: "
            "add fields with defaults, or make new fields optional."
        )
    return 1 if problems else 0
