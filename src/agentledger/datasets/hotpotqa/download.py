"""Fetch the official HotpotQA files, only when a user asks for it (nothing calls this implicitly)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

from ...errors import DataError, UsageError
from .loader import OFFICIAL_URLS

__all__ = ["download"]


def download(dest: str | os.PathLike[str], files: Iterable[str] = ("hotpot_dev_distractor_v1.json",), *,
             overwrite: bool = False, timeout_s: float = 60.0,
             progress: Callable[[str, int, int | None], None] | None = None) -> list[Path]:
    """Download ``files`` (names from :data:`OFFICIAL_URLS`) into the folder ``dest``.

    Each file is streamed to a temporary file and renamed when complete. Files already
    there are kept unless ``overwrite``. ``progress(name, bytes_done, bytes_total)`` is
    called as data arrives. Returns the paths of the files.
    """
    folder = Path(dest).expanduser()
    unknown = [name for name in files if name not in OFFICIAL_URLS]
    if unknown:
        raise UsageError(f"unknown HotpotQA file(s) {', '.join(unknown)}; valid: {', '.join(OFFICIAL_URLS)}")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with httpx.Client(timeout=timeout_s, follow_redirects=True) as client:
        for name in files:
            target = folder / name
            out.append(target)
            if target.exists() and not overwrite:
                continue
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
            try:
                with os.fdopen(fd, "wb") as fh, client.stream("GET", OFFICIAL_URLS[name]) as resp:
                    if resp.status_code != 200:
                        raise DataError(f"downloading {OFFICIAL_URLS[name]} failed: HTTP {resp.status_code}")
                    total = int(resp.headers["Content-Length"]) if "Content-Length" in resp.headers else None
                    for chunk in resp.iter_bytes(1 << 20):
                        fh.write(chunk)
                        if progress is not None:
                            progress(name, resp.num_bytes_downloaded, total)
                os.replace(tmp, target)
            except httpx.HTTPError as err:
                raise DataError(f"downloading {OFFICIAL_URLS[name]} failed: {err}; check the network") from None
            finally:
                Path(tmp).unlink(missing_ok=True)
    return out
