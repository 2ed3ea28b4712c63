"""Data at rest: Chroma pools, their write lock, indexing, verification, and the records that
fill them.

```python
from xling.store import Pool, load_aligned

pool = Pool.open("flores-eng-swh", "e5-small-q4")          # embedded Chroma by default
pool.index(load_aligned("eng.txt", "swh.txt", "eng", "swh"))  # idempotent, resumable
```
"""

from xling.store.chroma_client import connect, default_chroma_path
from xling.store.indexer import IndexReport
from xling.store.opening import open_pool
from xling.store.pool import Pool
from xling.store.records import (
    Record,
    aligned_records,
    load_aligned,
    load_jsonl,
    load_lines,
    load_tsv,
    read_lines,
)

__all__ = [
    "IndexReport",
    "Pool",
    "Record",
    "aligned_records",
    "connect",
    "default_chroma_path",
    "load_aligned",
    "load_jsonl",
    "load_lines",
    "load_tsv",
    "open_pool",
    "read_lines",
]
