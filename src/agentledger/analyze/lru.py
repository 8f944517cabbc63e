"""Prefix-cache simulation over chained block hashes, vectorized with numpy.

The input is every LLM call of one run, in the order the calls started, each with the
chained hashes of its prompt's full blocks (SPEC.md section 6): ``CallBlocks``. Since a
block's hash fingerprints the whole prefix up to it, a call's cached prefix is the number
of its leading blocks found in the cache.

The input is more generally a sequence of *segments*, each looking up its blocks and then
inserting them. ``schedule`` makes such a sequence from calls that also insert the blocks
of their output when they end (``output_block_hashes``): a call's prompt segment at its
start, its output segment at its end; the hits of an output segment are not used.

* ``ideal``: an infinite cache; a block hits when any earlier call had it.
* ``lru``: a cache of ``capacity`` blocks. After its lookup a call inserts all its blocks;
  within a call the later blocks count as less recently used (vLLM frees a request's blocks
  tail first, so tail blocks are evicted first). Then a block's predecessor in its chain
  is always at least as recent as the block itself, so the cache holds whole prefixes.

How the LRU is computed without a per-block Python loop: lay the calls' blocks out as one
access sequence (call after call, each call's blocks tail first, so positions grow with
recency) and find each access's previous and next access of the same hash with one stable
sort. The cache before call *c* is exactly the live accesses (those not yet re-accessed)
in a window ``[theta, b)`` ending at the call's first position ``b``, holding at most
``capacity`` of them; ``theta`` only moves forward. A block hits iff its previous access
lies in the window. The loop runs once per *call* (not per block) and moves ``theta`` with a
few numpy operations; it starts only at the first call that overflows the cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CallBlocks", "CacheHits", "simulate", "leading_true", "consecutive_overlap", "coarsen", "coarsen_with_output",
           "schedule"]


@dataclass(frozen=True)
class CallBlocks:
    """Block hashes of a run's calls: call ``c`` has ``hashes[offsets[c]:offsets[c + 1]]``."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, one more than calls

    @property
    def calls(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass(frozen=True)
class CacheHits:
    """Leading cached blocks per call under each cache model."""

    ideal: np.ndarray  # int64 per call: infinite cache
    lru: np.ndarray | None  # int64 per call: LRU of the given capacity (None without one)
    cross_request: np.ndarray  # int64 per call: infinite cache fed only by other requests' calls


def leading_true(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per segment ``mask[offsets[c]:offsets[c+1]]``: how many leading values are true."""
    starts, ends = offsets[:-1], offsets[1:]
    misses = np.flatnonzero(~mask)
    first_miss = misses[np.minimum(np.searchsorted(misses, starts), len(misses) - 1)] if len(misses) else ends
    first_miss = np.where((first_miss >= starts) & (first_miss < ends), first_miss, ends)
    return (first_miss - starts).astype(np.int64)


def coarsen(blocks: CallBlocks, factor: int) -> CallBlocks:
    """The same prompts in blocks of ``factor`` times the size: a chained hash names its whole
    prefix, so block ``j`` of the coarse split is hash ``factor * (j + 1) - 1`` of the fine one."""
    if factor == 1:
        return blocks
    lens = blocks.lengths // factor
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lens)
    picks = np.repeat(blocks.offsets[:-1], lens) + factor * within + factor - 1
    return CallBlocks(blocks.hashes[picks], offsets)


def _gather(hashes: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> CallBlocks:
    """Segments ``hashes[starts[i]:starts[i] + lens[i]]``, laid out one after the other."""
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lens)
    return CallBlocks(hashes[np.repeat(starts.astype(np.int64), lens) + within], offsets)


def coarsen_with_output(prompt: CallBlocks, output: CallBlocks, factor: int) -> tuple[CallBlocks, CallBlocks]:
    """``coarsen`` of each call's whole chain (prompt blocks, then output blocks), split again after the
    prompt's ``floor(n / factor)`` coarse blocks: a coarse block straddling the boundary is an output block."""
    if factor == 1:
        return prompt, output
    both = _gather(np.concatenate([prompt.hashes, output.hashes]),
                   np.stack([prompt.offsets[:-1], output.offsets[:-1] + len(prompt.hashes)], 1).ravel(),
                   np.stack([prompt.lengths, output.lengths], 1).ravel())
    whole = coarsen(CallBlocks(both.hashes, both.offsets[::2]), factor)
    n_prompt = prompt.lengths // factor
    return (_gather(whole.hashes, whole.offsets[:-1], n_prompt),
            _gather(whole.hashes, whole.offsets[:-1] + n_prompt, whole.lengths - n_prompt))


def schedule(prompt: CallBlocks, output: CallBlocks, start_ns: np.ndarray,
             end_ns: np.ndarray) -> tuple[CallBlocks, np.ndarray, np.ndarray]:
    """The access sequence of calls that look up and insert their prompt blocks at ``start_ns`` and
    insert their output blocks at ``end_ns``: segments in time order, at equal times an end before a
    start, then in call order (calls without output blocks have no output segment). Returns the
    segments, each segment's call, and each call's prompt segment."""
    n = prompt.calls
    outs = np.flatnonzero(output.lengths > 0)
    call = np.concatenate([np.arange(n), outs])
    is_prompt = np.concatenate([np.ones(n, np.int8), np.zeros(len(outs), np.int8)])
    order = np.lexsort((call, is_prompt, np.concatenate([start_ns, end_ns[outs]])))
    starts = np.concatenate([prompt.offsets[:-1], output.offsets[:-1][outs] + len(prompt.hashes)])
    lens = np.concatenate([prompt.lengths, output.lengths[outs]])
    segments = _gather(np.concatenate([prompt.hashes, output.hashes]), starts[order], lens[order])
    position = np.empty(len(order), np.int64)
    position[order] = np.arange(len(order))
    return segments, call[order], position[:n]


def consecutive_overlap(blocks: CallBlocks, predecessor: np.ndarray) -> np.ndarray:
    """Per call: leading hashes equal to those of ``predecessor[c]`` (a call index, -1 for none)."""
    lens = blocks.lengths
    has = predecessor >= 0
    pred = np.where(has, predecessor, 0)
    m = np.where(has, np.minimum(lens, lens[pred]), 0)
    offsets = np.concatenate([[0], np.cumsum(m)]).astype(np.int64)
    within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], m)
    here = np.repeat(blocks.offsets[:-1], m) + within
    there = np.repeat(blocks.offsets[pred], m) + within
    return leading_true(blocks.hashes[here] == blocks.hashes[there], offsets)


def _index_type(n: int) -> type[np.signedinteger]:
    """Positions in 32 bits where they fit: half the memory traffic of int64."""
    return np.int32 if n < 2**31 - 1 else np.int64


def _access_order(offsets: np.ndarray) -> np.ndarray:
    """Block position -> access position (each call's blocks reversed); its own inverse."""
    n = int(offsets[-1])
    it = _index_type(n)
    lens = np.diff(offsets)
    ends = (offsets[:-1] + offsets[1:] - 1).astype(it)  # first + last position of each call
    return np.repeat(ends, lens) - np.arange(n, dtype=it)


def _stable_order(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``argsort(keys, kind="stable")`` and the sorted keys, fast: sort one uint64 per access holding the key's high
    bits over the access's position (a plain value sort, several times faster than a stable
    argsort), then read the positions back from the low bits. Keys that share their high bits
    would interleave; when any such pair exists the stable argsort is used instead."""
    n = len(keys)
    bits = max(1, int(n - 1).bit_length())
    if bits > 40:
        order = np.argsort(keys, kind="stable").astype(_index_type(n))
        return order, keys[order]
    shift = np.uint64(bits)
    packed = (keys >> shift) << shift
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    order = (packed & np.uint64((1 << bits) - 1)).astype(_index_type(n))
    sk = keys[order]
    packed >>= shift
    if np.any((packed[1:] == packed[:-1]) & (sk[1:] != sk[:-1])):
        order = np.argsort(keys, kind="stable").astype(_index_type(n))
        return order, keys[order]
    return order, sk


def _neighbours(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stable sort order of ``keys``, the sorted keys, and each position's previous and next
    position with an equal key (-1 and ``len(keys)`` where there is none)."""
    n = len(keys)
    order, sk = _stable_order(keys)
    same = sk[1:] == sk[:-1]
    prev = np.full(n, -1, order.dtype)
    nxt = np.full(n, n, order.dtype)
    a, b = order[:-1][same], order[1:][same]
    prev[b] = a
    nxt[a] = b
    return order, sk, prev, nxt


def _seen_in_other_request(sk: np.ndarray, order: np.ndarray, requests: np.ndarray) -> np.ndarray:
    """Per access: did an earlier access of the same key belong to another request? (``sk``: the
    keys in stable sorted ``order``.)"""
    n = len(sk)
    r = requests[order]
    run_start = np.ones(n, bool)
    run_start[1:] = sk[1:] != sk[:-1]
    firsts = np.flatnonzero(run_start)
    run_of = np.cumsum(run_start) - 1
    differs = r != r[firsts][run_of]
    idx = np.arange(n, dtype=order.dtype)
    first_diff = np.minimum.reduceat(np.where(differs, idx, n), firsts)
    out = np.empty(n, bool)
    out[order] = differs | (idx > first_diff[run_of])
    return out


def _lru_windows(prev: np.ndarray, nxt: np.ndarray, offsets: np.ndarray, capacity: int) -> np.ndarray:
    """Per call: the start ``theta`` of the cache window at its lookup (see the module docstring)."""
    n_calls = len(offsets) - 1
    theta = np.zeros(n_calls, np.int64)
    distinct = np.concatenate([[0], np.cumsum(prev < 0)])[offsets]  # distinct keys before each call start
    first = int(np.searchsorted(distinct[1:], capacity, side="right"))  # first call that overflows
    th, live = 0, int(distinct[first]) if first < n_calls else 0
    bounds = offsets.tolist()
    for c in range(first, n_calls):
        b, e = bounds[c], bounds[c + 1]
        theta[c] = th
        if e == b:
            continue
        live += (e - b) - int(np.count_nonzero(prev[b:e] >= th))
        if live <= capacity:
            continue
        drop = live - capacity
        width = max(4 * drop, 256)
        while True:  # move theta past `drop` live accesses (live: next access at or after e)
            hi = min(th + width, e)
            alive = np.cumsum(nxt[th:hi] >= e)
            if alive[-1] >= drop or hi == e:
                th += int(alive.searchsorted(drop)) + 1
                break
            width *= 4
        live = capacity
    return theta


def simulate(blocks: CallBlocks, requests: np.ndarray, capacity: int | None = None) -> CacheHits:
    """Leading cached blocks of every call: infinite cache, cache fed by other requests only,
    and (with ``capacity`` in blocks) LRU. ``requests`` names each call's request."""
    if capacity is not None and capacity < 0:
        raise ValueError("capacity must be >= 0")
    offsets = blocks.offsets.astype(np.int64)
    pos = _access_order(offsets)
    keys = blocks.hashes[pos]
    order, sk, prev, nxt = _neighbours(keys)
    lens = np.diff(offsets)
    call_start = np.repeat(offsets[:-1].astype(prev.dtype), lens)
    earlier = prev < call_start  # previous access in an earlier call (not a repeat inside this one)
    ideal = leading_true(((prev >= 0) & earlier)[pos], offsets)
    codes = np.unique(np.asarray(requests), return_inverse=True)[1].astype(np.int32)
    other = _seen_in_other_request(sk, order, np.repeat(codes, lens))
    cross = leading_true(other[pos], offsets)
    lru = None
    if capacity is not None:
        theta = np.repeat(_lru_windows(prev, nxt, offsets, capacity).astype(prev.dtype), lens)
        lru = leading_true(((prev >= theta) & earlier)[pos], offsets)
    return CacheHits(ideal, lru, cross)
