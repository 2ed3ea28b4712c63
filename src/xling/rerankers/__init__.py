"""Rerankers: LLMs over OpenAI-compatible servers (listwise, pairwise, pointwise), cross-encoders
(local ``ce:``, or behind ``vllm-score:``, ``tei:`` and ``cohere:`` scoring servers).

from xling.llm import LLMClient
from xling.rerankers import RerankRequest, get_reranker

client = LLMClient("http://127.0.0.1:8011/v1", max_concurrency=32)
reranker = get_reranker("listwise", client, template="rankgpt", window=20, stride=10)
results = reranker.rerank_many([RerankRequest.from_texts(query, texts) for ...])
"""

from xling.core.records import Hit, QueryHits
from xling.rerankers.base import (
    LLMReranker,
    OnFailure,
    Reranker,
    RerankerConfig,
    RerankOrder,
    Scoring,
)
from xling.rerankers.cascade import CascadeConfig, CascadeReranker
from xling.rerankers.cross_encoder import CrossEncoderConfig, CrossEncoderReranker
from xling.rerankers.guard import DEFAULT_GUARD, fuse_orders
from xling.rerankers.listwise import ListwiseConfig, ListwiseReranker, ListwiseScoring
from xling.rerankers.pairwise import PairwiseConfig, PairwiseReranker, parse_choice
from xling.rerankers.pairwise_variants import (
    PAIRWISE_VARIANTS,
    allpair_comparisons,
    heapsort_comparison_bounds,
    sliding_comparisons,
)
from xling.rerankers.permutation import Permutation, parse_permutation
from xling.rerankers.pointwise import PointwiseConfig, PointwiseReranker
from xling.rerankers.reasoning import ReasoningConfig, ReasoningReranker
from xling.rerankers.records import (
    Fallback,
    ModelCall,
    RankedCandidate,
    Repair,
    RerankRequest,
    RerankResult,
    RerankUsage,
    read_requests,
)
from xling.rerankers.registry import (
    RERANKER_FAMILIES,
    RERANKERS,
    RerankerEntry,
    RerankerFamily,
    available_rerankers,
    check_reranker_spec,
    get_reranker,
    register_reranker,
    register_reranker_family,
    reranker_forms,
)
from xling.rerankers.score_servers import (
    CohereReranker,
    ScoreServerConfig,
    ScoreServerReranker,
    TEIReranker,
    VLLMScoreReranker,
)
from xling.rerankers.setwise import SetwiseConfig, SetwiseReranker, parse_label
from xling.rerankers.setwise_variants import (
    SETWISE_METHODS,
    setwise_bubblesort_bounds,
    setwise_heapsort_bounds,
)
from xling.rerankers.windows import count_sliding_windows, sliding_windows

__all__ = [
    "CascadeConfig",
    "CascadeReranker",
    "CohereReranker",
    "CrossEncoderConfig",
    "CrossEncoderReranker",
    "ScoreServerConfig",
    "ScoreServerReranker",
    "TEIReranker",
    "VLLMScoreReranker",
    "DEFAULT_GUARD",
    "LLMReranker",
    "ModelCall",
    "RERANKER_FAMILIES",
    "RerankerFamily",
    "fuse_orders",
    "register_reranker_family",
    "reranker_forms",
    "read_requests",
    "Fallback",
    "Hit",
    "QueryHits",
    "ListwiseConfig",
    "ListwiseReranker",
    "ListwiseScoring",
    "OnFailure",
    "PAIRWISE_VARIANTS",
    "PairwiseConfig",
    "PairwiseReranker",
    "Permutation",
    "PointwiseConfig",
    "PointwiseReranker",
    "ReasoningConfig",
    "ReasoningReranker",
    "RERANKERS",
    "RankedCandidate",
    "Repair",
    "RerankRequest",
    "RerankResult",
    "RerankUsage",
    "Reranker",
    "RerankerConfig",
    "RerankerEntry",
    "RerankOrder",
    "Scoring",
    "SETWISE_METHODS",
    "SetwiseConfig",
    "SetwiseReranker",
    "allpair_comparisons",
    "available_rerankers",
    "check_reranker_spec",
    "count_sliding_windows",
    "get_reranker",
    "heapsort_comparison_bounds",
    "parse_choice",
    "parse_label",
    "parse_permutation",
    "register_reranker",
    "setwise_bubblesort_bounds",
    "setwise_heapsort_bounds",
    "sliding_comparisons",
    "sliding_windows",
]
