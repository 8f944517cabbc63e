"""The agentledger trace format (specified in SPEC.md): schema, writer, reader,
validation and migration. Depends on nothing else in agentledger."""

from .hashing import DEFAULT_BLOCK_SIZE, block_hashes, hashes_to_list
from .meta import RunMeta, host_inventory
from .reader import RecoverResult, Trace, read_meta, read_trace, recover_trace, scan_trace
from .records import EngineSample, GpuSample, LlmCall, Request, ToolCall
from .schema import FIELDS, FORMAT_NAME, FORMAT_VERSION, KINDS, TEXT_COLUMNS, arrow_schema, kind_columns
from .validate import Violation, validate_trace
from .writer import TraceWriter, row_fields

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "EngineSample",
    "FIELDS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "GpuSample",
    "KINDS",
    "LlmCall",
    "RecoverResult",
    "Request",
    "RunMeta",
    "TEXT_COLUMNS",
    "ToolCall",
    "Trace",
    "TraceWriter",
    "Violation",
    "arrow_schema",
    "block_hashes",
    "hashes_to_list",
    "host_inventory",
    "kind_columns",
    "read_meta",
    "read_trace",
    "recover_trace",
    "row_fields",
    "scan_trace",
    "validate_trace",
]
