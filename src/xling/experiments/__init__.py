"""Jobs composing the library for ICL-MT experiments: translating prompts with an LLM."""

from xling.experiments.translate import atranslate, translate

__all__ = ["atranslate", "translate"]
