"""Run folders on storage every node of a Ray cluster can reach (`Sweep.storage`, `sweep --storage`).

Why: a sweep's runs are Ray tasks on whichever node has a free CPU. Without a shared filesystem each
run would write its folder on the disk of the node that ran it: `llm-explore report` on the driver
would not see it, and a run resumed on another node would start over. With a storage location (a path
every node mounts, or a pyarrow filesystem URI: `file:///...`, `s3://bucket/prefix`, `gs://...`) the
storage copy is the truth, as Ray Tune's `storage_path` is:

- a run works in a node-local scratch copy (`scratch_dir`): `RunSync.pull` downloads its folder from
  storage before it starts (so a run resumed on another node continues from its last checkpoint),
  `RunSync.maybe_push` uploads it after each new checkpoint, `RunSync.push` at its end (failure and
  interrupt included); files deleted locally (old checkpoints) are deleted in storage too;
- the driver plans start/resume/skip from the storage copy (`Storage.peek` fetches the few small
  files `inventory.run_info` reads) and writes `sweep.json` there;
- `download(uri, local)` copies a sweep down so `llm-explore report LOCAL` works on any machine.

pyarrow does the I/O, so every filesystem it knows works, with its usual credentials (environment,
config files). A URI may carry credentials itself (user-info, query): `redact` strips them from
everything recorded or printed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from llm_explore.errors import ConfigError

#: Where runs keep their scratch copies (default: `<tmp>/llmx-scratch/<Ray node id>`).
SCRATCH_ENV = "LLM_EXPLORE_SCRATCH"
#: Never uploaded: the run fence (`sweep.FENCE_FILE`) is node-local, `*.tmp` are half-written files.
NO_UPLOAD = frozenset({".run.lock"})
#: What `inventory.run_info` reads of a run folder: all the driver fetches to plan a run.
PEEK_FILES = ("run.json", "config.yaml", "summary.json", "error.txt", "metrics.csv")


def normalize(uri: str) -> str:
    """A plain path made absolute (Ray workers run in another folder than the driver); URIs as given."""
    if "://" in uri:
        return uri
    return str(Path(uri).expanduser().resolve())


def redact(uri: str) -> str:
    """`uri` without user-info, query and fragment (where credentials hide), for records and messages."""
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _scrub(text: str, uri: str) -> str:
    return text.replace(uri, redact(uri)) if uri else text


class Storage:
    """A storage location (the sweep folder) and the file operations a sweep needs, paths relative to it."""

    def __init__(self, uri: str):
        import pyarrow.fs as pafs

        self.uri = normalize(uri)
        self.label = redact(self.uri)
        try:
            self.fs, root = pafs.FileSystem.from_uri(self.uri)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError ...
            raise ConfigError(f"--storage {self.label}: {_scrub(str(exc), self.uri)}") from None
        self.root = root.rstrip("/") or "/"
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, rel: str = "") -> str:
        return f"{self.root}/{rel}".rstrip("/") if rel else self.root

    def files(self, rel: str = "") -> dict[str, int]:
        """Every file under `rel` (relative to it, posix) with its size; {} when there is no such folder."""
        import pyarrow.fs as pafs

        base = self.path(rel)
        infos = self.fs.get_file_info(pafs.FileSelector(base, allow_not_found=True, recursive=True))
        return {info.path[len(base) + 1 :]: info.size or 0 for info in infos if info.type == pafs.FileType.File}

    def is_file(self, rel: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.path(rel)).type == pafs.FileType.File

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a file; on a local filesystem through a temporary name, so readers never see half of it."""
        dest = self.path(rel)
        self.fs.create_dir(dest.rsplit("/", 1)[0], recursive=True)
        tmp = dest + ".part" if self.local else dest
        with self.fs.open_output_stream(tmp) as fh:
            fh.write(data)
        if tmp != dest:
            self.fs.move(tmp, dest)

    def upload_file(self, local: Path, rel: str) -> None:
        dest = self.path(rel)
        self.fs.create_dir(dest.rsplit("/", 1)[0], recursive=True)
        tmp = dest + ".part" if self.local else dest
        with local.open("rb") as src, self.fs.open_output_stream(tmp) as fh:
            shutil.copyfileobj(src, fh, 1 << 20)
        if tmp != dest:
            self.fs.move(tmp, dest)

    def delete_file(self, rel: str) -> None:
        try:
            self.fs.delete_file(self.path(rel))
        except FileNotFoundError:
            pass

    def download_dir(self, rel: str, local: Path) -> bool:
        """Copy the folder `rel` into `local` (created); False, copying nothing, when storage has no such folder."""
        import pyarrow.fs as pafs

        if self.fs.get_file_info(self.path(rel)).type != pafs.FileType.Directory:
            return False
        local.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(
            self.path(rel), str(local), source_filesystem=self.fs, destination_filesystem=pafs.LocalFileSystem()
        )
        return True

    def peek(self, rel: str, local: Path) -> Path:
        """The files of run folder `rel` that `inventory.run_info` reads, copied into `local` (which is a
        run folder afterwards exactly when the storage copy is one)."""
        local.mkdir(parents=True, exist_ok=True)
        for name in PEEK_FILES:
            if self.is_file(f"{rel}/{name}"):
                with self.fs.open_input_stream(self.path(f"{rel}/{name}")) as fh:
                    (local / name).write_bytes(fh.read())
        return local


def scratch_root() -> Path:
    """This node's folder for scratch copies: `$LLM_EXPLORE_SCRATCH`, else `<tmp>/llmx-scratch/<node>`
    (the Ray node id inside a Ray worker, so two nodes on one machine never share a copy)."""
    if os.environ.get(SCRATCH_ENV):
        return Path(os.environ[SCRATCH_ENV])
    node = "local"
    try:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()[:16]
    except Exception:  # noqa: BLE001 - no Ray here: one scratch folder for the machine
        pass
    return Path(tempfile.gettempdir()) / "llmx-scratch" / node


def scratch_dir(uri: str, rel: str) -> Path:
    """The scratch copy of run folder `rel` of the sweep stored at `uri` (a folder per storage location)."""
    key = hashlib.sha1(normalize(uri).encode()).hexdigest()[:12]
    return scratch_root() / key / rel


class RunSync:
    """A run folder's storage copy (the truth) and its node-local scratch copy (where the run writes)."""

    def __init__(self, uri: str, rel: str, *, every_s: float = 60.0):
        self.storage = Storage(uri)
        self.rel = rel
        self.local = scratch_dir(uri, rel)
        self.every_s = every_s  # upload at most this often between checkpoints
        self._sent: dict[str, tuple[int, int]] = {}  # file -> (size, mtime_ns) as last uploaded
        self._remote: set[str] = set()  # files storage holds (as far as this copy knows)
        self._last_push = 0.0
        self._last_ckpt: str | None = None
        self.pulled = False  # only a scratch copy pulled whole may be pushed over the storage copy

    def pull(self) -> bool:
        """Replace the scratch copy by the storage copy; True when storage held the run folder."""
        for child in self.local.iterdir() if self.local.is_dir() else []:
            if child.name in NO_UPLOAD:
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        found = self.storage.download_dir(self.rel, self.local)
        self._remote = set(self.storage.files(self.rel)) if found else set()
        self._sent = {name: self._stamp(name) for name in self._local_files() if name in self._remote}
        self._last_push = time.time()
        self._last_ckpt = self._newest_ckpt()
        self.pulled = True
        return found

    def _local_files(self) -> list[str]:
        out = []
        for path in self.local.rglob("*"):
            if path.is_file() and path.name not in NO_UPLOAD and not path.name.endswith((".tmp", ".part")):
                out.append(path.relative_to(self.local).as_posix())
        return out

    def _stamp(self, name: str) -> tuple[int, int]:
        st = (self.local / name).stat()
        return st.st_size, st.st_mtime_ns

    def _newest_ckpt(self) -> str | None:
        from llm_explore.learner import checkpoint as ckpt

        newest = ckpt.latest(self.local)
        return newest.name if newest is not None else None

    def push(self) -> None:
        """Upload what changed since the last push and delete in storage what is gone here. Checkpoints
        go first and summary.json last, so the storage copy never names a result it has no files for."""
        names = self._local_files()
        order = sorted(names, key=lambda n: (not n.startswith("checkpoints/"), n == "summary.json", n))
        for name in order:
            try:
                stamp = self._stamp(name)
            except FileNotFoundError:  # deleted while we walked (a checkpoint rotated out)
                continue
            if self._sent.get(name) != stamp:
                self.storage.upload_file(self.local / name, f"{self.rel}/{name}")
                self._sent[name] = stamp
                self._remote.add(name)
        for name in sorted(self._remote - set(names)):
            self.storage.delete_file(f"{self.rel}/{name}")
            self._remote.discard(name)
            self._sent.pop(name, None)
        self._last_push = time.time()
        self._last_ckpt = self._newest_ckpt()

    def maybe_push(self) -> None:
        """Push when a new checkpoint appeared or `every_s` passed; a failure is a warning (the run goes
        on, the final push tries again)."""
        if self._newest_ckpt() == self._last_ckpt and time.time() - self._last_push < self.every_s:
            return
        try:
            self.push()
        except Exception as exc:  # noqa: BLE001 - storage down for a while must not end the run
            from llm_explore import files

            failure = self.scrub(f"{type(exc).__name__}: {exc}")
            files.warn(f"{self.rel}: upload to {self.storage.label} failed ({failure}); will retry")

    def scrub(self, text: str) -> str:
        """`text` with the storage URI's credentials removed."""
        return _scrub(text, self.storage.uri)

    def clean(self) -> None:
        """Drop the scratch copy (storage holds the run), keeping only the fence file."""
        for child in self.local.iterdir() if self.local.is_dir() else []:
            if child.name not in NO_UPLOAD:
                shutil.rmtree(child) if child.is_dir() else child.unlink()


def download(uri: str, local: str | Path, *, checkpoints: bool = True) -> Path:
    """Copy a sweep (or one run folder) from storage into `local`, so `llm-explore report LOCAL` and
    `llm-explore runs LOCAL` work on this machine; `checkpoints=False` leaves the checkpoints behind."""
    store = Storage(uri)
    local = Path(local)
    local.mkdir(parents=True, exist_ok=True)
    files = store.files()
    if not files:
        raise ConfigError(f"--storage {store.label} holds nothing to download")
    for name in sorted(files):
        if name.endswith(".part") or Path(name).name in NO_UPLOAD:
            continue
        if not checkpoints and "checkpoints" in Path(name).parts:
            continue
        dest = local / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with store.fs.open_input_stream(store.path(name)) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    return local


__all__ = ["RunSync", "Storage", "download", "normalize", "redact", "scratch_dir", "scratch_root"]
