"""Write a GGUF model with LoRA deltas added to some of its weights (``gguf`` package only).

The metadata and untouched tensors are copied byte for byte (as the ``gguf_new_metadata``
script of the gguf package does). An adapted tensor is dequantised, gets its delta, and is
quantised back to its own type, so the merged model runs as fast as the base. llama.cpp's
converter stores the query and key projections of llama models with their rows permuted for
its rotary embedding; their deltas get the same permutation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cosmo_kg.errors import BackendError


def permute_rows(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's ``LlamaModel.permute`` of a q/k projection (rows = heads x head dim)."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        raise BackendError(f"GGUF metadata {key} missing", hint="use a llama-architecture GGUF")
    return field.contents()


def _merged_tensor(tensor: Any, delta: np.ndarray, heads: dict[str, int]) -> tuple[np.ndarray, Any]:
    from gguf import GGMLQuantizationType, quants

    weights = quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
    kind = tensor.name.split(".")[2]
    if kind in heads:
        delta = permute_rows(delta, heads[kind])
    if weights.shape != delta.shape:
        raise BackendError(
            f"adapter delta {delta.shape} does not fit {tensor.name} {weights.shape}",
            hint="the adapter was trained for another base model",
        )
    merged = weights + delta
    qtype = tensor.tensor_type
    if qtype == GGMLQuantizationType.F32:
        return merged, qtype
    if qtype == GGMLQuantizationType.F16:
        return merged.astype(np.float16), qtype
    # Re-quantising to the base's 4-bit type would round most of a LoRA update away; 8 bits keep
    # it and stay about as fast on CPU.
    if merged.shape[-1] % 32 == 0:
        return quants.quantize(merged, GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0
    return merged.astype(np.float16), GGMLQuantizationType.F16


def write_merged(source: Path, target: Path, deltas: dict[str, Any]) -> None:
    """Copy ``source`` to ``target`` with ``deltas`` (GGUF tensor name -> float tensor) added.

    Raises:
        BackendError: a delta names no tensor of the model, or does not fit it.
    """
    import gguf

    reader = gguf.GGUFReader(source)
    arch = str(_field(reader, gguf.Keys.General.ARCHITECTURE))
    heads = {
        "attn_q": int(_field(reader, f"{arch}.attention.head_count")),
        "attn_k": int(_field(reader, f"{arch}.attention.head_count_kv")),
    }
    names = {t.name for t in reader.tensors}
    unknown = sorted(set(deltas) - names)
    if unknown:
        raise BackendError(
            f"adapter targets tensors the model lacks: {', '.join(unknown[:3])}",
            hint="the adapter was trained for another base model",
        )
    writer = gguf.GGUFWriter(target, arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    data = {}
    for tensor in reader.tensors:
        if tensor.name in deltas:
            array, qtype = _merged_tensor(tensor, np.asarray(deltas[tensor.name].numpy()), heads)
        else:
            array, qtype = tensor.data, tensor.tensor_type
        data[tensor.name] = array
        writer.add_tensor_info(tensor.name, array.shape, array.dtype, array.nbytes, qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(data[tensor.name], tensor_endianess=reader.endianess)
    writer.close()
