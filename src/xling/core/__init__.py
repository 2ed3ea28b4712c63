"""The core layer: what every other layer uses and nothing else provides.

Errors and exit codes (:mod:`xling.core.errors`), input validation
(:mod:`xling.core.validation`), language codes and script tables (:mod:`xling.core.languages`,
:mod:`xling.core.scripts`), the script-aware word tokenizer (:mod:`xling.core.tokenize`), the
records that cross layers with their readers and writers (:mod:`xling.core.records`), the shared
numerics (:mod:`xling.core.numerics`), cache folders, process checks, the chat message type,
lazy optional imports and the async bridge. Core modules import only each other and carry no
optional dependency; they talk to no server.
"""
