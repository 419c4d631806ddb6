"""Rows passed as one JSON parameter per table, unpacked in SQL by `json_to_recordset`.

Multi-table statements (`consent_batch`, `request_receipt`) send each table's rows as one JSON
array of objects (the row Structs, encoded by the pool's codec) instead of one array per column:
encoding some forty arrays cost asyncpg more than a commit's worth of CPU for a lone write, and
msgspec writes the JSON in one C call. Byte strings arrive as base64 text (msgspec's form) and are
decoded in SQL. Each list of columns names its row Struct's fields.
"""

from __future__ import annotations

import msgspec

__all__ = ["Columns", "names", "recordset", "typed"]

Columns = tuple[tuple[str, str], ...]

_TYPES = {"subject_id": "uuid", "id": "uuid", "event_id": "uuid", "receipt_id": "uuid", "notice_version": "int",
          "policy_version": "int", "gpc": "bool", "client_at": "timestamptz", "recorded_at": "timestamptz",
          "created_at": "timestamptz", "gpc_opt_out_at": "timestamptz", "proof": "jsonb", "target": "jsonb",
          "detail": "jsonb", "payload": "jsonb", "by_guardian": "bool"}  # fmt: skip


def typed(row: type[msgspec.Struct]) -> Columns:
    """(column, SQL type) for each field of a row Struct; text unless `_TYPES` says otherwise."""
    return tuple((name, _TYPES.get(name, "text")) for name in row.__struct_fields__)


def recordset(param: int, columns: Columns) -> str:
    """`json_to_recordset($param)` with the row's columns, aliased `r`."""
    return f"json_to_recordset(${param}::json) AS r({', '.join(f'{name} {kind}' for name, kind in columns)})"


def names(columns: Columns) -> str:
    return ", ".join(name for name, _ in columns)
