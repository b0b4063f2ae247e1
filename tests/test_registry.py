"""The registry layer: its pure helpers (search filters over model names, pagination), and
the reads and writes whose bugs only a real server shows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from controller.registry import Registry
from controller.registry.errors import rejects_name_lists, translate
from controller.registry.filters import filterable, like_any, name_filters, paginate, quote
from controller.state import LastApplied
from controller.target import RegistryTarget
from testing.cli import run_cli
from testing.runs import log_version

if TYPE_CHECKING:
    from mlflow import MlflowClient


@pytest.mark.parametrize("name", ["bikes", "o'neil", 'say "hi"', "a b", "ünïcode", "x%_y"])
def test_names_without_both_quotes_or_a_backslash_or_newline_are_filterable(name: str) -> None:
    assert filterable(name)


@pytest.mark.parametrize("name", ['it\'s "both"', "back\\slash", "two\nlines", "cr\rhere"])
def test_names_no_filter_can_carry_are_not_filterable(name: str) -> None:
    assert not filterable(name)


def test_quote_uses_the_quote_the_name_does_not_contain() -> None:
    assert quote("bikes") == "'bikes'"
    assert quote("o'neil") == '"o\'neil"'
    assert quote('say "hi"') == "'say \"hi\"'"


def test_like_pattern_stands_a_wildcard_in_for_what_no_filter_can_carry() -> None:
    assert like_any('it\'s "both\\"\n') == "'it_s \"both_\"_'"


def test_name_filters_chunk_the_names_and_cover_each_once() -> None:
    names = [f"m{i}" for i in range(7)]
    filters = list(name_filters(names, 3))
    assert [chunk for chunk, _ in filters] == [names[0:3], names[3:6], names[6:7]]
    assert filters[0][1] == "name IN ('m0','m1','m2')"
    assert filters[2][1] == "name IN ('m6')"


def test_name_filters_of_no_names_search_nothing() -> None:
    assert list(name_filters([], 100)) == []


def test_name_filters_quote_each_name_for_itself() -> None:
    [(_, filter_string)] = name_filters(["a", "o'neil"], 100)
    assert filter_string == "name IN ('a',\"o'neil\")"


class Page(list[int]):
    """One page of a paged MLflow search: its items and the token for the next page."""

    def __init__(self, items: list[int], token: str | None) -> None:
        super().__init__(items)
        self.token = token


def test_paginate_follows_the_tokens_until_there_is_none() -> None:
    pages = {None: Page([1, 2], "b"), "b": Page([3], "c"), "c": Page([4, 5], "")}
    asked: list[Any] = []

    def search(page_token: str | None) -> Page:
        asked.append(page_token)
        return pages[page_token]

    assert list(paginate(search)) == [1, 2, 3, 4, 5]
    assert asked == [None, "b", "c"]


def test_paginate_reads_one_page_when_the_first_has_no_token() -> None:
    calls = 0

    def search(page_token: str | None) -> Page:
        nonlocal calls
        calls += 1
        return Page([], None)

    assert list(paginate(search)) == []
    assert calls == 1


MLFLOW2_ANSWER = {
    "error_code": "INVALID_PARAMETER_VALUE",
    "message": "Only the 'run_id' attribute supports comparison with a list of quoted string "
    "values.",
}


def test_mlflow_2s_answer_to_a_name_list_is_recognised() -> None:
    from mlflow.exceptions import RestException

    assert rejects_name_lists(RestException(MLFLOW2_ANSWER))


@pytest.mark.parametrize(
    "message",
    [
        "Invalid clause(s) in filter string: 'name IN'",
        "Only the dataset 'name' and 'digest' supports comparison with a list of quoted strings",
        "Registered Model with name=bikes not found",
    ],
)
def test_other_bad_requests_are_not_taken_for_a_server_without_name_lists(message: str) -> None:
    from mlflow.exceptions import RestException

    answer = RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": message})
    assert not rejects_name_lists(answer)


def test_a_name_list_rejection_still_reads_as_one_line_where_it_is_not_caught() -> None:
    from mlflow.exceptions import RestException

    target = RegistryTarget("http://127.0.0.1:9", "http://127.0.0.1:9")
    error = translate(RestException(MLFLOW2_ANSWER), target, "")
    assert "\n" not in str(error) and "Only the 'run_id' attribute" in str(error)


# Against the real server -------------------------------------------------------------------


@pytest.mark.server
def test_forget_removes_every_part_of_a_split_last_applied_record(
    mlflow_server: str, server_client: MlflowClient, make_model: Callable[..., str]
) -> None:
    name = make_model("forget", versions=1)
    aliases = {f"alias-{i:04d}-{'x' * 40}": 1 for i in range(300)}  # ~16 kB: split over parts
    record = LastApplied(aliases=aliases, owner="team")
    assert len(record.to_tags()) > 2
    registry = Registry(RegistryTarget(mlflow_server, mlflow_server))
    registry.write_owner(name, "team")
    registry.write_last_applied(name, record)
    assert registry.read_state([name]).models[name].last_applied == record

    registry.forget(name)

    tags = server_client.get_registered_model(name).tags
    assert not [key for key in tags if key.startswith("mlflow-gitops.")], tags


@pytest.mark.server
def test_tracking_uri_flag_reads_signatures_as_the_environment_variable_does(
    tmp_path: Path, mlflow_server: str
) -> None:
    name = f"signed{uuid.uuid4().hex[:8]}"
    version = log_version(mlflow_server, name, metrics={"rmse": 1.0})
    (tmp_path / "registry.yaml").write_text(
        "version: 1\n"
        "models:\n"
        f"  {name}:\n"
        f"    aliases: {{champion: {version}}}\n"
        "    gates:\n"
        "      champion: {require_signature: true}\n"
    )
    by_flag = run_cli("plan", "--format", "json", "--tracking-uri", mlflow_server, cwd=tmp_path)
    by_variable = run_cli(
        "plan", "--format", "json", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": mlflow_server}
    )

    for result in (by_flag, by_variable):
        assert result.returncode == 0, result.stderr
        [change] = json.loads(result.stdout)["changes"]
        assert change["evidence"]["to"]["has_signature"] is True, result.stdout
        assert [gate["passed"] for gate in change["gates"]] == [True]


@pytest.mark.server
def test_prompts_are_left_out_of_the_models_a_registry_holds(
    mlflow_server: str, server_client: MlflowClient, make_model: Callable[..., str]
) -> None:
    """MLflow keeps prompts as registered models. The searches skip the 3.x client's filter
    that leaves them out (2.9 servers misread it): the server must leave them out itself."""
    model = make_model("kept", versions=1)
    prompt = f"prompt{uuid.uuid4().hex[:8]}"
    server_client.register_prompt(name=prompt, template="Hello {{name}}")
    assert server_client.search_prompts(f"name = '{prompt}'")  # it is there, as a prompt

    names = Registry(RegistryTarget(mlflow_server, mlflow_server)).read_all_model_names()
    assert model in names and prompt not in names
