"""The core layer: what every other layer uses and nothing else provides.

Language codes and script tables (:mod:`xling.core.languages`), cache folders
(:mod:`xling.core.paths`), process checks (:mod:`xling.core.processes`), the chat message type
(:mod:`xling.core.chat`) and the shared numerics: exact top-k with a tie-break,
k-nearest-neighbour means and the margin scores (:mod:`xling.core.numerics`). Errors
(:mod:`xling.errors`) and input validation (``xling._validation``) belong to this layer too.
Core modules import only each other and carry no optional dependency; they do no I/O beyond
reading files.
"""
