"""Which columns of a table are the features: one rule for every reader (Parquet, CSV).

In order: the columns the user names (names or globs); else the one vector-like column
(a fixed- or variable-size list of numbers, or an Arrow tensor extension) when there is
exactly one; else every numeric column, except integer columns that look like row ids
(named ``id``, ``*_id``, ``index``, pandas' ``Unnamed: 0``, or counting 0, 1, 2, ... or
1, 2, 3, ...). Whatever is left out is said in one notice, never dropped silently.
"""

from __future__ import annotations

import fnmatch
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

# Rows of an integer column looked at to tell a row number from data.
ROW_NUMBER_PROBE = 1000


class ColumnNotice(UserWarning):
    """Which columns of a file were used as features, and which were left out and why."""


class RowsSkipped(UserWarning):
    """Rows with a missing value or infinity were left out (``handle_invalid="skip"``)."""


@dataclass
class Selection:
    """The feature columns of a table and how to read them."""

    columns: list[str]  # in feature order
    n_features: int
    dtype: np.dtype  # the widest value type of the chosen columns
    vector: bool = False  # one list-like column holds every feature
    left_out: dict[str, str] = field(default_factory=dict)  # name -> why

    @property
    def feature_names(self) -> list[str]:
        """One name per feature: the columns, or ``emb[0]``, ``emb[1]``, ... for a vector."""
        if self.vector:
            return [f"{self.columns[0]}[{j}]" for j in range(self.n_features)]
        return list(self.columns)


def is_number(arrow_type) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def _storage(arrow_type):
    """The storage type of an extension type (an Arrow tensor is a fixed-size list)."""
    import pyarrow as pa

    return arrow_type.storage_type if isinstance(arrow_type, pa.BaseExtensionType) else arrow_type


def is_vector(arrow_type) -> bool:
    """A list of numbers, fixed-size or not (or a tensor extension stored as one)."""
    import pyarrow as pa

    arrow_type = _storage(arrow_type)
    lists = (pa.types.is_fixed_size_list, pa.types.is_list, pa.types.is_large_list)
    return any(test(arrow_type) for test in lists) and is_number(arrow_type.value_type)


def vector_width(arrow_type) -> int | None:
    """The fixed width of a vector type (an Arrow tensor's element count), else None."""
    import pyarrow as pa

    if isinstance(arrow_type, pa.FixedShapeTensorType):
        return int(np.prod(arrow_type.shape))
    arrow_type = _storage(arrow_type)
    return arrow_type.list_size if pa.types.is_fixed_size_list(arrow_type) else None


def is_id_name(name: str) -> bool:
    lower = name.strip().lower()
    return (
        lower in ("id", "index", "row", "row_id")
        or lower.endswith("_id")
        or (lower.startswith("unnamed:"))
    )


def is_row_number(values: np.ndarray) -> bool:
    """Whether values count 0, 1, 2, ... or 1, 2, 3, ... (a row number, not a feature)."""
    values = np.asarray(values)
    if len(values) < 2 or not np.issubdtype(values.dtype, np.integer):
        return False
    return bool(values[0] in (0, 1) and np.all(np.diff(values) == 1))


def expand(requested, names: list[str], name: str) -> list[str]:
    """Column names and globs (``x*``, ``f[0-3]``) as the columns they name, in the order
    asked, each once. A name or glob that matches nothing is an error."""
    patterns = [requested] if isinstance(requested, str) else list(requested)
    if not patterns:
        raise ValueError(f"{name}: columns= is empty")
    chosen: list[str] = []
    for pattern in patterns:
        pattern = str(pattern)
        if pattern in names:
            matches = [pattern]
        elif any(ch in pattern for ch in "*?["):
            matches = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        else:
            matches = []
        if not matches:
            raise ValueError(
                f"{name} has no column {pattern!r} (columns: {', '.join(names)})"
                if not any(ch in pattern for ch in "*?[")
                else f"{name}: no column matches {pattern!r} (columns: {', '.join(names)})"
            )
        chosen += [m for m in matches if m not in chosen]
    return chosen


def select(
    schema,
    requested,
    name: str,
    text_columns: frozenset[str] = frozenset(),
    probe=None,
) -> Selection:
    """The features of a table with this Arrow ``schema``.

    ``text_columns``: columns a CSV sample showed to hold only text (the schema then says
    float64 for every column). ``probe(columns)``: the first rows of some integer columns,
    as a dict of arrays, to tell row numbers from data.
    """
    import pyarrow as pa

    names = list(schema.names)
    if names and all(pa.types.is_null(f.type) for f in schema):
        raise ValueError(f"{name} has no rows")
    if requested is not None:
        chosen = expand(requested, names, name)
        fields = [schema.field(c) for c in chosen]
        vectors = [f for f in fields if is_vector(f.type)]
        if vectors:
            if len(fields) > 1:
                raise ValueError(
                    f"{name}: the vector column {vectors[0].name!r} must be the only column "
                    f"chosen (got {', '.join(chosen)})"
                )
            return _vector(vectors[0], name)
        for f in fields:
            if not is_number(f.type) or f.name in text_columns:
                kind = "text" if f.name in text_columns else f.type
                raise ValueError(f"{name}: column {f.name!r} is {kind}, not numeric")
        return Selection(chosen, len(chosen), _widest(fields))
    vectors = [f for f in schema if is_vector(f.type)]
    numeric = [f for f in schema if is_number(f.type) and f.name not in text_columns]
    left_out = {}
    for f in schema:
        if f.name in text_columns or pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            left_out[f.name] = "text"
        elif not is_number(f.type) and not is_vector(f.type):
            left_out[f.name] = str(f.type)
    if len(vectors) == 1:
        for f in numeric:
            left_out[f.name] = "not the vector column"
        selection = _vector(vectors[0], name)
        selection.left_out = {n: left_out[n] for n in names if n in left_out}
        return selection
    for f in vectors:
        left_out[f.name] = "one of several vector columns"
    integers = [f.name for f in numeric if pa.types.is_integer(f.type)]
    ids = {c for c in integers if is_id_name(c)}
    maybe_counts = [c for c in integers if c not in ids]
    if maybe_counts and probe is not None:
        first = probe(maybe_counts)
        ids |= {c for c in maybe_counts if is_row_number(first.get(c, []))}
    for c in ids:
        left_out[c] = "row id" if is_id_name(c) else "row number"
    fields = [f for f in numeric if f.name not in ids]
    if not fields:
        raise ValueError(
            f"{name} has no feature column: "
            + (
                ", ".join(f"{n} ({why})" for n, why in left_out.items())
                if left_out
                else "no columns"
            )
            + "; name the columns to use with columns="
        )
    selection = Selection([f.name for f in fields], len(fields), _widest(fields))
    selection.left_out = {n: left_out[n] for n in names if n in left_out}
    return selection


def _vector(f, name: str) -> Selection:
    width = vector_width(f.type)
    return Selection([f.name], width or 0, f.type.value_type.to_pandas_dtype(), vector=True)


def _widest(fields) -> np.dtype:
    return np.result_type(*[f.type.to_pandas_dtype() for f in fields])


def notify(selection: Selection, name: str) -> None:
    """One notice when columns were left out: which were used, which not and why."""
    if not selection.left_out:
        return
    used = ", ".join(selection.columns)
    dropped = ", ".join(f"{c} ({why})" for c, why in selection.left_out.items())
    warnings.warn(
        f"{name}: features from {used}; left out {dropped} (choose with columns=)",
        ColumnNotice,
        stacklevel=4,
    )


_NUMBER = re.compile(
    r"\s*[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|infinity|nan)\s*",
    re.IGNORECASE,
)
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
# What pyarrow and pandas read as a missing value in a number column.
MISSING = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"]
    + ["N/A", "NA", "NULL", "NaN", "n/a", "nan", "null", "None", "<NA>"]
)


def is_number_text(value: str) -> bool:
    return value in MISSING or _NUMBER.fullmatch(value) is not None


def is_integer_text(value: str) -> bool:
    return _INTEGER.fullmatch(value) is not None
