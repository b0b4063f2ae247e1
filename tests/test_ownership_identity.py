"""The owner identity: the same repository names itself the same way however it was cloned."""

from __future__ import annotations

import pytest

from controller.ownership import owner_identity, remote_identity


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/models",
        "https://github.com/acme/models.git",
        "https://x-access-token:ghs_s3cr3t@github.com/acme/models.git",
        "git@github.com:acme/models.git",
        "ssh://git@github.com/acme/models.git",
    ],
)
def test_https_ssh_and_token_clones_name_one_repository(url: str) -> None:
    assert remote_identity(url) == "github.com/acme/models"


def test_a_local_remote_is_its_path_without_dot_git() -> None:
    assert remote_identity("file:///srv/git/models.git") == "/srv/git/models"
    assert remote_identity("/srv/git/models.git/") == "/srv/git/models"


def test_an_explicit_name_wins_over_the_repository() -> None:
    assert owner_identity("team-a", "git@github.com:a/b.git", "/w", "r.yaml", "/w/r.yaml") == (
        "team-a"
    )


def test_without_a_remote_the_repository_folder_names_it() -> None:
    assert owner_identity(None, None, "/w/repo", "deploy/r.yaml", "x") == "/w/repo:deploy/r.yaml"


def test_quotes_never_reach_the_identity() -> None:
    identity = owner_identity(None, None, '/w/it\'s "here"', "r.yaml", "x")
    assert "'" not in identity and '"' not in identity


def test_a_model_cannot_be_both_declared_and_released() -> None:
    from controller.errors import ManifestError
    from controller.manifest import parse_manifest

    text = "version: 1\nmodels:\n  churn: {aliases: {prod: 1}}\nrelease:\n  - bikes\n  - churn\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "registry.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "registry.yaml:6:5: model 'churn' is both declared under models and listed under release"
    ]


def test_an_explicit_name_may_not_carry_quotes() -> None:
    from controller.errors import ManifestError
    from controller.manifest import parse_manifest

    with pytest.raises(ManifestError):
        parse_manifest('version: 1\nname: "it\'s"\nmodels: {}\n', "registry.yaml")
