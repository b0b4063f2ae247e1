"""The only module that imports git: reads manifest history as plain data, commits, pushes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from controller.errors import GitError
from controller.trust import RecordedCommit
from controller.values import Checkout, CommitInfo, Revision

if TYPE_CHECKING:
    import git


ZERO_SHA = "0" * 40
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
# One record per commit: \x1e starts it, \x1f separates the fields, then `--raw -z` output.
LOG_FORMAT = "%x1e%H%x1f%aI%x1f%cI%x1f%an%x1f%s"
GITHUB_REMOTE = re.compile(
    r"^(?:https://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/?$"
)


@contextmanager
def _repo(path: str | Path) -> Iterator[git.Repo]:
    """The repository holding `path`, with every gitpython failure turned into a GitError."""
    import git

    folder = Path(path).resolve().parent
    try:
        with git.Repo(folder, search_parent_directories=True) as repo:
            yield repo
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(f"{folder} is not in a git repository") from None
    except git.GitCommandError as exc:
        raise GitError(f"git failed: {_reason(exc)}") from None


def _reason(exc: git.GitCommandError) -> str:
    """git's own explanation: its fatal/error line, else its last line of output."""
    raw = str(exc.stderr).strip().removeprefix("stderr: ").strip("'")
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (errors or lines or [f"exit code {exc.status}"])[0]


def _relative(repo: git.Repo, path: str | Path) -> str:
    root = Path(str(repo.working_tree_dir)).resolve()
    return Path(path).resolve().relative_to(root).as_posix()


def manifest_revisions(path: str | Path) -> list[Revision]:
    """Every first-parent commit that touched the manifest, newest first, across renames.

    Two git processes in all, however long the history: one `log` for the commits and
    their blob ids, and one persistent `cat-file --batch` for the blobs.
    """
    with _repo(path) as repo:
        if not repo.head.is_valid():
            return []
        if repo.git.rev_parse("--is-shallow-repository") == "true":
            raise GitError(
                f"{repo.working_tree_dir} is a shallow clone, so the history of {path} is "
                "incomplete; fetch full history (fetch-depth: 0 in actions/checkout)"
            )
        log = repo.git.log(
            "--first-parent", "--follow", "--raw", "--no-abbrev", "-z",
            f"--format={LOG_FORMAT}", "--", _relative(repo, path),
        )  # fmt: skip
        records = [_parse_record(record) for record in log.split("\x1e")[1:]]
        texts = {
            blob: repo.git.get_object_data(blob)[3].decode("utf-8", "replace")
            for blob in {blob for _, _, blob in records}
            if blob != ZERO_SHA
        }
    return [Revision(commit, file, texts.get(blob)) for commit, file, blob in records]


def recorded_commits(path: str | Path, shas: Iterable[str]) -> dict[str, RecordedCommit]:
    """What git says about the commits our registry records name (trust.py judges them).

    For each: is it HEAD or an ancestor of HEAD, the manifest (same path) at it, and the later
    revisions up to HEAD that mention `release`. Git processes: one `rev-list` for ancestry and
    one `log` per distinct commit on the line, plus gitpython's persistent `cat-file --batch`
    for every object; a name that is not a full sha never reaches git. Outside git: nothing.
    """
    wanted = sorted({sha for sha in shas if FULL_SHA.fullmatch(sha)})
    if not wanted:
        return {}
    try:
        with _repo(path) as repo:
            if not repo.head.is_valid():
                return {}
            relative = _relative(repo, path)
            shallow = repo.git.rev_parse("--is-shallow-repository") == "true"
            commits = [sha for sha in wanted if _is_commit(repo, sha)]
            outside = (
                set(repo.git.rev_list(*commits, "--not", "HEAD").split()) if commits else set()
            )
            texts: dict[str, str | None] = {}
            facts = {}
            for sha in wanted:
                if sha not in commits or sha in outside:
                    facts[sha] = RecordedCommit(sha, on_history=False, shallow=shallow)
                    continue
                facts[sha] = RecordedCommit(
                    sha,
                    on_history=True,
                    manifest=_text_at(repo, f"{sha}:{relative}"),
                    later=_later_releases(repo, sha, relative, texts),
                )
    except GitError:  # not a repository: no commit can be confirmed
        return {}
    return facts


def _is_commit(repo: git.Repo, name: str) -> bool:
    try:
        kind: object = repo.git.get_object_header(name)[1]
    except ValueError:  # git: missing
        return False
    return kind == b"commit"


def _text_at(repo: git.Repo, spec: str) -> str | None:
    try:
        return repo.git.get_object_data(spec)[3].decode("utf-8", "replace")
    except ValueError:  # no such file at that commit
        return None


def _later_releases(
    repo: git.Repo, sha: str, relative: str, texts: dict[str, str | None]
) -> tuple[tuple[str, str], ...]:
    """(commit, text) of each manifest revision after `sha` up to HEAD that says `release`.

    Only those can release a model, so only those are worth a parse; `texts` caches blobs.
    """
    log = repo.git.log(
        "--format=%x1e%H", "--raw", "--no-abbrev", "-z", f"{sha}..HEAD", "--", relative
    )
    later = []
    for record in log.split("\x1e")[1:]:
        commit, _, raw = record.partition("\0")
        fields = raw.strip("\n\0").split("\0")
        blob = fields[0].split()[3] if fields and fields[0] else ZERO_SHA
        if blob not in texts:
            texts[blob] = None if blob == ZERO_SHA else _text_at(repo, blob)
        text = texts[blob]
        if text is not None and "release" in text:
            later.append((commit.strip(), text))
    return tuple(later)


def _parse_record(record: str) -> tuple[CommitInfo, str, str]:
    """One commit's header and raw diff line -> (commit, path at that commit, new blob id)."""
    header, _, raw = record.partition("\0")
    sha, date, committed, author, subject = header.split("\x1f", 4)
    fields = raw.strip("\n\0").split("\0")
    blob = fields[0].split()[3]
    return CommitInfo(sha, date, author, subject, committed), fields[-1], blob


def manifest_checkout(path: str | Path) -> Checkout:
    """The manifest's repository, remote and HEAD, and whether the file differs from HEAD's.

    The comparison is of content (git's own hash of the file), so neither the index nor a
    touched timestamp can make an edited manifest pass for the committed one.
    """
    import git

    try:
        with _repo(path) as repo:
            relative = _relative(repo, path)
            names = [remote.name for remote in repo.remotes]
            remote = "origin" if "origin" in names else (names[0] if names else None)
            facts = Checkout(
                root=str(repo.working_tree_dir),
                path_in_repo=relative,
                remote_url=repo.remote(remote).url if remote else None,
            )
            if not repo.head.is_valid():
                return facts
            try:
                committed = repo.git.rev_parse(f"HEAD:{relative}")
            except git.GitCommandError:  # not in HEAD: a new, uncommitted manifest
                committed = None
            current = repo.git.hash_object("--", relative)
            head = repo.head.commit.hexsha
    except GitError:  # not a repository: no commit to record, nothing to compare
        return Checkout()
    return facts.model_copy(update={"commit": head, "dirty": committed != current})


def remote_and_path(path: str | Path) -> tuple[str | None, str | None]:
    """The repository's remote URL (origin, else the first) and `path` inside it, for a file
    that may not exist yet (import names the manifest it is about to write)."""
    try:
        with _repo(path) as repo:
            names = [remote.name for remote in repo.remotes]
            remote = "origin" if "origin" in names else (names[0] if names else None)
            return (repo.remote(remote).url if remote else None), _relative(repo, path)
    except GitError:
        return None, None


def branch_and_default(path: str | Path) -> tuple[str | None, str | None]:
    """The checked-out branch and the remote's default branch, as the last fetch or clone
    recorded it (`refs/remotes/origin/HEAD`; no network), each None when unknown."""
    import git

    try:
        with _repo(path) as repo:
            branch = None if repo.head.is_detached else repo.head.ref.name
            try:
                default = str(repo.git.symbolic_ref("--short", "refs/remotes/origin/HEAD"))
            except git.GitCommandError:  # never fetched, or no origin: nothing to compare
                return branch, None
    except GitError:
        return None, None
    return branch, default.removeprefix("origin/") or None


def head_commit_and_user(path: str | Path) -> tuple[str | None, str | None]:
    """HEAD's sha and the configured user.name of the repository holding `path`, if any."""
    try:
        with _repo(path) as repo:
            commit = repo.head.commit.hexsha if repo.head.is_valid() else None
            # get_value's default does not cover a missing section: a container, a fresh CI
            # machine or the controller's clone may have no user configured anywhere.
            config = repo.config_reader()
            user = config.get_value("user", "name") if config.has_option("user", "name") else None
    except GitError:  # not a repository: apply still works, with no commit to record
        return None, None
    return commit, (str(user) if user else None)


def starting_branch(path: str | Path, remote: str | None) -> str:
    """The branch new commits start from; refused unless the manifest there is clean."""
    with _repo(path) as repo:
        if not repo.head.is_valid():
            raise GitError("the repository has no commits yet; commit the manifest first")
        if repo.head.is_detached:
            raise GitError("HEAD is detached; check out the branch to start from (git switch)")
        if repo.git.status("--porcelain", "--", _relative(repo, path)):
            raise GitError(
                f"{path} has uncommitted changes; commit or stash them first, "
                "so the new commit holds only this change"
            )
        if remote is not None and remote not in repo.remotes:
            raise GitError(f"no git remote named {remote!r}")
        return repo.active_branch.name


def check_can_commit(path: str | Path, branch: str, remote: str | None) -> None:
    """Refuse before anything is written: the commit must hold this change and nothing else."""
    starting_branch(path, remote)
    with _repo(path) as repo:
        repo.git.check_ref_format("--branch", branch)
        if branch in repo.heads:
            raise GitError(
                f"branch {branch!r} already exists (an earlier run committed there?): push it "
                f"with `git push --set-upstream {remote or 'origin'} {branch}`, or delete it with "
                f"`git branch -D {branch}` and run again"
            )


def local_branches(path: str | Path, prefix: str) -> set[str]:
    """Names of the local branches that start with `prefix`."""
    with _repo(path) as repo:
        return {head.name for head in repo.heads if head.name.startswith(prefix)}


def remote_branches(path: str | Path, remote: str, prefix: str) -> set[str]:
    """Names of the remote's branches that start with `prefix`, asked of the remote itself."""
    with _repo(path) as repo:
        listing = str(repo.git.ls_remote("--heads", remote, f"refs/heads/{prefix}*"))
    refs = (line.partition("\t")[2] for line in listing.splitlines())
    return {
        ref.removeprefix("refs/heads/") for ref in refs if ref.startswith(f"refs/heads/{prefix}")
    }


def switch_to(path: str | Path, branch: str) -> None:
    """Check out an existing branch (back to where a run of bump commits started)."""
    with _repo(path) as repo:
        repo.git.checkout(branch)


def commit_on_new_branch(path: str | Path, branch: str, message: str) -> str:
    """Switch to a new branch at HEAD and commit only the manifest; return the commit's sha."""
    with _repo(path) as repo:
        repo.git.checkout("-b", branch)
        repo.git.commit("--only", "-m", message, "--", _relative(repo, path))
        return repo.head.commit.hexsha


def push(path: str | Path, remote: str, branch: str) -> str | None:
    """Push the branch; return the URL that opens a pull request, when the remote is GitHub."""
    import git

    with _repo(path) as repo:
        try:
            repo.git.push("--set-upstream", remote, f"refs/heads/{branch}:refs/heads/{branch}")
        except git.GitCommandError as exc:
            raise GitError(f"push of {branch!r} to {remote!r} failed: {_reason(exc)}") from None
        return github_compare_url(repo.remote(remote).url, branch)


def github_commit_url(remote_url: str, sha: str) -> str | None:
    """https://github.com/OWNER/REPO/commit/SHA for a GitHub remote, else None."""
    match = GITHUB_REMOTE.match(remote_url)
    if match is None:
        return None
    return f"https://github.com/{match['owner']}/{match['repo']}/commit/{sha}"


def github_compare_url(remote_url: str, branch: str) -> str | None:
    """https://github.com/OWNER/REPO/compare/BRANCH?expand=1 for a GitHub remote, else None."""
    match = GITHUB_REMOTE.match(remote_url)
    if match is None:
        return None
    return f"https://github.com/{match['owner']}/{match['repo']}/compare/{branch}?expand=1"


# The controller's checkout: a clone of the remote in its state dir, moved to each branch head.


def fetch_branch(url: str, branch: str, folder: str | Path) -> str:
    """Clone `url` into `folder` the first time, fetch `branch` after; return its head's sha.

    Full history, since rollbacks and trusted records read it; nothing is checked out here.
    """
    import git

    folder = Path(folder)
    refspec = f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
    try:
        if not (folder / ".git").exists():
            folder.mkdir(parents=True, exist_ok=True)
            repo = git.Repo.init(folder)
            repo.create_remote("origin", url)
        else:
            repo = git.Repo(folder)
        with repo:
            # A daemon has no one to type a password: fail instead of waiting for one.
            repo.git.update_environment(GIT_TERMINAL_PROMPT="0")
            repo.git.fetch("--quiet", "--no-tags", "origin", refspec)
            return str(repo.git.rev_parse(f"refs/remotes/origin/{branch}^{{commit}}"))
    except git.GitCommandError as exc:
        raise GitError(f"fetch of {branch!r} failed: {_reason(exc)}") from None


def check_out(folder: str | Path, sha: str) -> None:
    """Make the work tree exactly the commit's (detached), whatever was there before."""
    import git

    try:
        with git.Repo(folder) as repo:
            repo.git.checkout("--quiet", "--force", "--detach", sha)
            repo.git.clean("-q", "-f", "-d", "-x")
    except git.GitCommandError as exc:
        raise GitError(f"checkout of {sha[:12]} failed: {_reason(exc)}") from None


def is_ancestor(folder: str | Path, older: str, newer: str) -> bool:
    """Does `newer` descend from `older` (or equal it)? False also when `older` is unknown."""
    import git

    with git.Repo(folder) as repo:
        try:
            repo.git.merge_base("--is-ancestor", older, newer)
        except git.GitCommandError:
            return False
        return True
