"""Sidecar files: Kino's drop-in functions, exact JSON, the record model, the keys we add.

``from kino_catalog.sidecar import save_generation_params`` (and
``load_generation_params``, ``params_exist``, ``get_params_path``,
``save_generation_params_sync``) is a published drop-in for Kino's own
functions (DESIGN §3): these names stay importable from here.
"""

from kino_catalog.sidecar.files import (
    atomic_file,
    atomic_text_file,
    is_inside,
    write_atomic,
    write_atomic_many,
)
from kino_catalog.sidecar.kino import (
    MAX_SIDECAR_BYTES,
    dumps_sidecar,
    encode_sidecar,
    get_params_path,
    hash_file,
    load_generation_params,
    loads_exact,
    params_exist,
    read_sidecar_bytes,
    save_generation_params,
    save_generation_params_sync,
    too_big_reason,
)

__all__ = [
    "MAX_SIDECAR_BYTES",
    "atomic_file",
    "atomic_text_file",
    "dumps_sidecar",
    "encode_sidecar",
    "get_params_path",
    "hash_file",
    "is_inside",
    "load_generation_params",
    "loads_exact",
    "params_exist",
    "read_sidecar_bytes",
    "save_generation_params",
    "save_generation_params_sync",
    "too_big_reason",
    "write_atomic",
    "write_atomic_many",
]
