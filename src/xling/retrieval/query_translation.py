"""Query translation for retrieval: a question put into other languages before searching.

A :data:`Translator` is any callable ``translate(text, src, tgt)`` that returns the text in
``tgt`` (or an awaitable of it): a function over a table of hand-written translations, or
:class:`LLMTranslator`, which asks an LLM through :class:`xling.llm.LLMClient`. Either is
wrapped in a :class:`CachedTranslator`, so each ``(text, src, tgt, model)`` is translated once:
an in-memory LRU in front of an optional SQLite file (like the embedding cache).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.validation import check_positive_int, preview
from xling.llm import LLMClient
from xling.prompts.mt import build_mt_messages
from xling.prompts.postprocess import MT_MAX_NEW_TOKENS, clean_translation

__all__ = ["CachedTranslator", "LLMTranslator", "TranslationCache", "Translator"]

Translator = Callable[[str, str, str], "str | Awaitable[str]"]
"""``translate(text, src, tgt) -> str`` (or an awaitable of it), codes as ISO 639-3."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    text TEXT NOT NULL,
    src TEXT NOT NULL,
    tgt TEXT NOT NULL,
    model TEXT NOT NULL,
    translation TEXT NOT NULL,
    PRIMARY KEY (text, src, tgt, model)
) WITHOUT ROWID
"""

_Key = tuple[str, str, str, str]


class TranslationCache:
    """Translations keyed by ``(text, src, tgt, model)``: an LRU in memory, optionally backed
    by one SQLite file that threads and processes may share.

    Args:
        path: The database file (``None``: memory only).
        max_items: Translations the in-memory LRU holds.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, max_items: int = 4096) -> None:
        self.max_items = check_positive_int(max_items, "max_items")
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._memory: OrderedDict[_Key, str] = OrderedDict()
        self._conn: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)
            self._conn.commit()

    def get(self, key: _Key) -> str | None:
        """The cached translation, or ``None``."""
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
            if self._conn is None:
                return None
            row = self._conn.execute(
                "SELECT translation FROM translations WHERE text=? AND src=? AND tgt=? AND model=?",
                key,
            ).fetchone()
            if row is None:
                return None
            self._remember(key, str(row[0]))
            return str(row[0])

    def put(self, key: _Key, translation: str) -> None:
        """Stores a translation (replacing an older one)."""
        with self._lock:
            self._remember(key, translation)
            if self._conn is not None:
                self._conn.execute(
                    "INSERT OR REPLACE INTO translations VALUES (?,?,?,?,?)", (*key, translation)
                )
                self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            if self._conn is None:
                return len(self._memory)
            return int(self._conn.execute("SELECT COUNT(*) FROM translations").fetchone()[0])

    def close(self) -> None:
        """Closes the database file (the memory part stays usable)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _remember(self, key: _Key, translation: str) -> None:
        self._memory[key] = translation
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_items:
            self._memory.popitem(last=False)


class CachedTranslator:
    """A translator whose translations are cached, and that never translates a text into its
    own language.

    Args:
        translate: The translator doing the work.
        model: The name its translations are cached under (default: what the translator's
            ``amodel()`` returns, else its ``model`` attribute, else its ``__qualname__``); two
            translators with one name share cache entries.
        cache: Where translations are kept (default: a fresh in-memory cache).

    Attributes:
        calls: Translations actually asked of ``translate`` (cache misses).
    """

    def __init__(
        self,
        translate: Translator,
        *,
        model: str | None = None,
        cache: TranslationCache | None = None,
    ) -> None:
        if not callable(translate):
            raise InvalidInputError(
                f"translate must be a callable translate(text, src, tgt), got {preview(translate)}"
            )
        self.translate = translate
        self.model = model
        self.cache = cache if cache is not None else TranslationCache()
        self.calls = 0
        self._pending: dict[_Key, asyncio.Future[str]] = {}

    async def atranslate(self, text: str, src: str, tgt: str) -> str:
        """``text`` in ``tgt`` (the text itself when ``src`` is ``tgt``).

        Raises:
            InvalidInputError: On an unknown language code, or when the translator returns
                something other than a non-empty text.
        """
        src, tgt = normalize_code(src), normalize_code(tgt)
        if src == tgt:
            return text
        key = (text, src, tgt, await self._amodel())
        found = self.cache.get(key)
        if found is not None:
            return found
        # The same translation asked for twice at once (two questions alike) is made once.
        if key in self._pending:
            return await asyncio.shield(self._pending[key])
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = self.translate(text, src, tgt)
            if inspect.isawaitable(result):
                result = await result
            self.calls += 1
            if not isinstance(result, str) or not result.strip():
                raise InvalidInputError(
                    f"the translator gave {preview(result)} for {preview(text)} ({src} → {tgt}); "
                    "it must return a non-empty text"
                )
            translation = result.strip()
            self.cache.put(key, translation)
            future.set_result(translation)
            return translation
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved here: a failure nobody else awaits is not logged
            raise
        finally:
            del self._pending[key]

    async def _amodel(self) -> str:
        if self.model is None:
            amodel = getattr(self.translate, "amodel", None)
            if amodel is not None:
                self.model = str(await amodel())
            else:
                self.model = str(
                    getattr(self.translate, "model", None)
                    or getattr(self.translate, "__qualname__", "translator")
                )
        return self.model


class LLMTranslator:
    """Translates with an LLM: the chat form of the ICL-MT zero-shot prompt
    (:func:`xling.prompts.mt.build_mt_messages`), greedy, cut to the translation by
    :func:`xling.prompts.postprocess.clean_translation`.

    Args:
        client: The LLM client.
        max_tokens: Most tokens per translation.

    Attributes:
        model: ``model@server`` once known (see :meth:`amodel`), the cache key of its
            translations.
    """

    def __init__(self, client: LLMClient, *, max_tokens: int = MT_MAX_NEW_TOKENS) -> None:
        if not isinstance(client, LLMClient):
            raise InvalidInputError(f"client must be an xling LLMClient, got {client!r:.60}")
        self.client = client
        self.max_tokens = check_positive_int(max_tokens, "max_tokens")
        self.model: str | None = None

    async def amodel(self) -> str:
        """The served model's name and the server (the cache key of its translations)."""
        if self.model is None:
            self.model = f"{await self.client.amodel()}@{self.client.root}"
        return self.model

    async def __call__(self, text: str, src: str, tgt: str) -> str:
        """``text`` translated from ``src`` into ``tgt`` (the text itself when the model writes
        nothing usable: the search goes on with the question as asked).

        Raises:
            ServiceUnavailableError: If the LLM fails.
        """
        await self.amodel()
        completion = await self.client.achat(
            build_mt_messages(text, [], src, tgt), max_tokens=self.max_tokens, temperature=0.0
        )
        return clean_translation(completion.text, src, tgt) or text


def cached(
    translate: Translator | CachedTranslator, cache: TranslationCache | None = None
) -> CachedTranslator:
    """``translate`` wrapped in a :class:`CachedTranslator` (as it is, if it is one)."""
    if isinstance(translate, CachedTranslator):
        return translate
    return CachedTranslator(translate, cache=cache)


async def translate_all(
    translator: CachedTranslator, jobs: list[tuple[str, str, str]]
) -> list[str]:
    """Every ``(text, src, tgt)`` translated, at once (the LLM client bounds concurrency)."""
    return list(await asyncio.gather(*(translator.atranslate(*job) for job in jobs)))
