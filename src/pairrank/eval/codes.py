"""Id columns as integer codes plus their distinct ids (code c stands for ids[c])."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def encode_ids(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes and distinct ids (as strings) of a null-free id column.

    Categoricals reuse their codes; other columns are hashed by Arrow, so
    100M string ids take seconds rather than minutes.
    """
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.codes.to_numpy(), pd.Index(ids.cat.categories.astype(str))
    if ids.dtype == object or not pd.api.types.is_string_dtype(ids.dtype):
        ids = ids.astype(str)
    arrow = pa.array(ids)
    return dictionary_codes(pc.dictionary_encode(pa.chunked_array([arrow]) if isinstance(arrow, pa.Array) else arrow))


def dictionary_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, pd.Index]:
    """Codes and distinct ids of a dictionary-encoded column whose chunks may have different dictionaries.

    The chunks' dictionaries are hashed together once (they are small next
    to the column), and each chunk's indices are mapped through the result.
    """
    chunks = [chunk for chunk in column.chunks if len(chunk)]
    if not chunks:
        return np.zeros(0, dtype=np.int32), pd.Index([], dtype=str)
    first = chunks[0].dictionary
    if all(chunk.dictionary is first or chunk.dictionary.equals(first) for chunk in chunks[1:]):
        codes = np.concatenate([chunk.indices.to_numpy() for chunk in chunks])
        return codes, pd.Index(first.to_pandas())
    merged = pc.dictionary_encode(pa.chunked_array([chunk.dictionary for chunk in chunks]))
    codes = np.empty(sum(len(chunk) for chunk in chunks), dtype=np.int32)
    offset = 0
    for chunk, mapping in zip(chunks, merged.chunks):
        codes[offset : offset + len(chunk)] = mapping.indices.to_numpy()[chunk.indices.to_numpy()]
        offset += len(chunk)
    return codes, pd.Index(merged.chunks[-1].dictionary.to_pandas())
