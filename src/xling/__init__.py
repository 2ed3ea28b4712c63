"""xling: cross-lingual retrieval-augmented LLMs.

Multilingual embedders index document pools in Chroma; selectors pick in-context translation
examples or passages; LLM rerankers served by vLLM reorder candidates; the eval module scores
MT and RAG output.
"""

from xling.core.errors import XlingError

__all__ = ["XlingError", "__version__"]

__version__ = "0.1.0"
