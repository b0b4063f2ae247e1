"""Property tests of the loaders on untrusted input: random YAML trees, random bytes, mutations
of a valid manifest and of a saved plan. Whatever comes in, the manifest loader either returns
a manifest that holds only what the format allows or raises ManifestError with one-line
problems, and the plan reader returns a plan that replays exactly or raises PlanFileError;
nothing else ever escapes (the CLI would print that as `internal error`).

The example budget is fixed and the runs are derandomized, so CI sees the same inputs each time.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.errors import ManifestError, PlanFileError
from controller.manifest import (
    LoadedManifest,
    dump_manifest,
    load_manifest,
    parse_manifest,
)
from controller.plan import make_plan, replay, unusable
from controller.policy import ALIAS_PATTERN, MAX_ALIAS_LENGTH
from controller.saved_plan import read_plan
from controller.state import READY, LastApplied, LiveModel, LiveState
from controller.values import PlanSource

BUDGET = settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VALID = (
    "# yaml-language-server: $schema=./registry.schema.json\n"
    "version: 1\n"
    "tracking_uri: http://mlflow.internal:5000\n"
    "models:\n"
    "  bikes:\n"
    "    aliases:\n"
    "      champion: 3\n"
    "      challenger: 4\n"
    "      shadow: null\n"
    "    prune: false\n"
    "  taxis: {aliases: {champion: 12, old: null}, prune: true}\n"
)
# Characters that change what YAML means, plus a few that make names and numbers.
YAML_ALPHABET = ":-[]{}&*!|>'\"#%@`,?<= \t\n\r~.0123456789aelnstux_\\\x00\x1b\x85\ufeff\u2028é"


Edit = tuple[int, int, str]  # at this position, delete this many characters, insert this text


def edits_of(text: str, delete_up_to: int, alphabet: str, max_edits: int) -> Any:
    """A strategy: 1 to `max_edits` small edits anywhere in `text`."""
    edit = st.tuples(
        st.integers(min_value=0, max_value=len(text)),
        st.integers(min_value=0, max_value=delete_up_to),
        st.text(alphabet=alphabet, max_size=delete_up_to),
    )
    return st.lists(edit, min_size=1, max_size=max_edits)


def mutated(text: str, edits: list[Edit]) -> str:
    for position, deleted, inserted in edits:
        at = min(position, len(text))
        text = text[:at] + inserted + text[at + deleted :]
    return text


def outcome(load: Any) -> LoadedManifest | None:
    """Run the loader; check that a refusal is one-line problems, and return any manifest."""
    try:
        return load()
    except ManifestError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.line >= 1 and problem.col >= 1
            assert len(str(problem).splitlines()) == 1, str(problem)
        return None


def holds_only_the_format(loaded: LoadedManifest) -> None:
    """An accepted manifest means exactly what it says, and survives a round trip."""
    manifest = loaded.manifest
    assert manifest.version == 1
    for spec in manifest.models.values():
        assert type(spec.prune) is bool
        for alias, version in spec.aliases.items():
            assert ALIAS_PATTERN.fullmatch(alias) and len(alias) <= MAX_ALIAS_LENGTH
            assert version is None or (type(version) is int and version >= 1)
    assert parse_manifest(dump_manifest(manifest), "again.yaml").manifest == manifest


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    st.text(max_size=20),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=12), children, max_size=5),
    ),
    max_leaves=40,
)
aliases = st.dictionaries(
    st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True), st.text(max_size=8)),
    st.one_of(st.none(), st.integers(min_value=-3, max_value=10**6), scalars),
    max_size=6,
)
manifests = st.fixed_dictionaries(
    {
        "version": st.one_of(st.just(1), scalars),
        "models": st.dictionaries(
            st.text(max_size=10),
            st.one_of(
                st.fixed_dictionaries({"aliases": aliases}, optional={"prune": scalars}), trees
            ),
            max_size=4,
        ),
    },
    optional={"tracking_uri": scalars, "extra": trees},
)


@BUDGET
@given(tree=st.one_of(trees, manifests), flow=st.sampled_from([None, True, False]))
def test_random_yaml_trees_load_or_are_refused_cleanly(tree: Any, flow: bool | None) -> None:
    text = yaml.safe_dump(tree, default_flow_style=flow, allow_unicode=True)
    loaded = outcome(lambda: parse_manifest(text, "registry.yaml"))
    if loaded is not None:
        holds_only_the_format(loaded)


@settings(BUDGET, max_examples=100)
@given(shared=trees, manifest=manifests)
def test_documents_with_anchors_are_always_refused(shared: Any, manifest: dict) -> None:
    """PyYAML writes an object used twice as an anchor and an alias; we never read either."""
    if not isinstance(shared, list | dict):
        shared = [shared]
    text = yaml.safe_dump({**manifest, "x": shared, "y": shared})
    assert "&id" in text
    assert outcome(lambda: parse_manifest(text, "registry.yaml")) is None


@settings(BUDGET, max_examples=1000)
@given(data=st.binary(max_size=600))
def test_random_bytes_are_refused_or_loaded_cleanly(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "registry.yaml"
        path.write_bytes(data)
        loaded = outcome(lambda: load_manifest(path))
    if loaded is not None:
        holds_only_the_format(loaded)


@settings(BUDGET, max_examples=2000)
@given(edits=edits_of(VALID, delete_up_to=4, alphabet=YAML_ALPHABET, max_edits=4))
def test_mutations_of_a_valid_manifest_never_escape(edits: list[Edit]) -> None:
    text = mutated(VALID, edits)
    loaded = outcome(lambda: parse_manifest(text, "registry.yaml"))
    if loaded is not None:
        holds_only_the_format(loaded)


def test_the_unmutated_manifest_is_valid() -> None:
    """The mutation test starts from a manifest that loads, so its refusals are earned."""
    loaded = parse_manifest(VALID, "registry.yaml")
    assert loaded.manifest.models["taxis"].aliases == {"champion": 12, "old": None}


def saved_plan_text() -> str:
    """A real plan value, computed by the pure planner from a small in-memory registry."""
    loaded = parse_manifest(VALID, "registry.yaml")
    ready = dict.fromkeys(range(1, 13), READY)
    live = LiveState(
        models={
            "bikes": LiveModel("bikes", {"champion": 2, "old": 1}, ready),
            "taxis": LiveModel("taxis", {"old": 3}, ready, LastApplied({"old": 3})),
        }
    )
    source = PlanSource(
        registry="http://mlflow.internal:5000",
        manifest_path="registry.yaml",
        manifest_sha256=loaded.sha256,
    )
    plan = make_plan(loaded, live).model_copy(update={"source": source})
    return json.dumps(plan.model_dump(mode="json", by_alias=True), indent=2)


PLAN_TEXT = saved_plan_text()
JSON_ALPHABET = '{}[]:,"0123456789.-+eE truefalsnl\\/\nabcdhmopgz_@'


@settings(BUDGET, max_examples=1000)
@given(edits=edits_of(PLAN_TEXT, delete_up_to=6, alphabet=JSON_ALPHABET, max_edits=3))
def test_mutated_plan_files_are_refused_or_replay_exactly(edits: list[Edit]) -> None:
    text = mutated(PLAN_TEXT, edits)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.json"
        path.write_text(text, encoding="utf-8")
        try:
            plan, _ = read_plan(str(path))
        except PlanFileError as exc:
            assert len(str(exc).splitlines()) == 1, str(exc)
            return
    changes, unmanaged, summary = replay(plan.models, unusable(plan.errors))
    assert (changes, unmanaged, summary) == (plan.changes, plan.unmanaged, plan.summary)


def test_the_unmutated_plan_is_read_back() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.json"
        path.write_text(PLAN_TEXT, encoding="utf-8")
        plan, _ = read_plan(str(path))
    assert [c.address for c in plan.changes] == [
        "bikes@champion",
        "bikes@challenger",
        "taxis@champion",
        "taxis@old",
    ]
