"""Real git repositories in temporary folders, for the promote, rollback and history tests."""

from __future__ import annotations

from pathlib import Path

import git


def make_repo(folder: Path) -> git.Repo:
    """An empty repository on branch main, with its own identity and no commit signing."""
    repo = git.Repo.init(folder, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Ann Example")
        config.set_value("user", "email", "ann@example.com")
        config.set_value("commit", "gpgsign", "false")
    return repo


def work_tree(repo: git.Repo) -> Path:
    """The repository's folder (gitpython types it optional: a bare repository has none)."""
    assert repo.working_tree_dir is not None, f"{repo.git_dir} is bare"
    return Path(repo.working_tree_dir)


def commit_file(repo: git.Repo, path: str, text: str, message: str) -> str:
    """Write `path` (bytes as given, so CRLF stays CRLF), commit it, and return the sha."""
    file = work_tree(repo) / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(text.encode("utf-8"))
    repo.index.add([path])
    return repo.index.commit(message).hexsha


def rename_file(repo: git.Repo, old: str, new: str, message: str) -> str:
    (work_tree(repo) / new).parent.mkdir(parents=True, exist_ok=True)
    repo.index.move([old, new])
    return repo.index.commit(message).hexsha
