"""Chained prompt block hashes: the prefix-sharing fingerprint of a prompt.

Definition (also in SPEC.md): split the prompt's token ids into blocks of
``block_size`` tokens and drop the incomplete last block. With ``h[-1] = 0``,
``h[i]`` is the BLAKE2b-64 digest, read as a little-endian uint64, of
``le_u64(h[i-1]) || le_u32(token) for each token of block i``. Two prompts share
their first k blocks exactly when their first k hashes are equal, as in vLLM's
prefix cache.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from hashlib import blake2b

__all__ = ["block_hashes", "hashes_to_list", "DEFAULT_BLOCK_SIZE"]

DEFAULT_BLOCK_SIZE = 16
_U64 = struct.Struct("<Q")


def block_hashes(token_ids: Sequence[int], block_size: int = DEFAULT_BLOCK_SIZE) -> bytes:
    """Chained hashes of the full blocks of ``token_ids``, as packed little-endian uint64s."""
    if block_size <= 0:
        raise ValueError("block_size must be positive")
    n_blocks = len(token_ids) // block_size
    out = bytearray(8 * n_blocks)
    prev = b"\0" * 8
    for i in range(n_blocks):
        block = token_ids[i * block_size : (i + 1) * block_size]
        digest = blake2b(prev + struct.pack(f"<{block_size}I", *block), digest_size=8).digest()
        out[8 * i : 8 * i + 8] = digest
        prev = digest
    return bytes(out)


def hashes_to_list(packed: bytes) -> list[int]:
    """Unpack ``block_hashes`` output into Python ints (as the trace column holds them)."""
    return [v for (v,) in _U64.iter_unpack(packed)]
