"""engmon: a terminal campaign monitor that answers "is the link I shared working?"."""

import os as _os

__version__ = "0.1.0"

# polars' allocator (jemalloc) keeps freed pages for a further second as "muzzy" once they
# decay, and the kernel counts them as ours until then: a big file's scan, its rows and the
# report stack up in resident memory. Handing pages back as soon as they decay keeps the
# footprint near what engmon really holds (about 65 MB less at 5M access-log lines, for a few
# percent more CPU). Read when polars is first imported; a `_RJEM_MALLOC_CONF` the user set
# is left alone.
_os.environ.setdefault("_RJEM_MALLOC_CONF", "muzzy_decay_ms:0")

# numpy's bundled OpenBLAS starts a thread per core on import, and each spins for a while
# before it sleeps: on a 2-core machine that takes a core from polars' scan for the first
# ~0.1 s of CPU. engmon's only BLAS work (the forecast's few-parameter fits) is too small to
# gain from threads. A value the user set is left alone.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
