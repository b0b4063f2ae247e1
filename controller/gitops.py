"""The only module that imports git: turns the manifest's repository into plain data."""

from __future__ import annotations

from pathlib import Path


def head_commit_and_user(path: str | Path) -> tuple[str | None, str | None]:
    """HEAD's sha and the configured user.name of the repository holding `path`, if any."""
    import git  # imported here: gitpython costs ~0.1 s and most commands never need it

    try:
        repo = git.Repo(Path(path).resolve().parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None, None
    with repo:
        try:
            commit = repo.head.commit.hexsha
        except ValueError:  # a repository with no commits yet
            commit = None
        try:
            user = repo.config_reader().get_value("user", "name", default=None)
        except Exception:  # gitpython raises configparser errors of several kinds
            user = None
    return commit, (str(user) if user else None)
