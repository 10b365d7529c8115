"""A tiny safetensors writer for the golden-file generators (the safetensors
package is not in Debian). Format: u64 little-endian header length, a JSON
header {name: {dtype, shape, data_offsets}, "__metadata__": {...}} padded with
spaces to a multiple of 8, then the raw little-endian data.

Floating tensors of any precision are stored as F32 (sinapsi's dtype); int64,
int32 and uint8 tensors keep their type (labels, pixels).
"""
import json
import struct

import torch

_INTEGER = {torch.int64: ("I64", "q"), torch.int32: ("I32", "i"), torch.uint8: ("U8", "B")}


def write_safetensors(path, tensors, metadata=None):
    """tensors: a list of (name, tensor), written in that order."""
    header = {"__metadata__": metadata or {}}
    offset = 0
    blobs = []
    for name, t in tensors:
        t = t.detach().contiguous()
        if t.dtype in _INTEGER:
            dtype, code = _INTEGER[t.dtype]
        else:
            t, dtype, code = t.to(torch.float32), "F32", "f"
        values = t.reshape(-1).tolist()
        blob = struct.pack("<%d%s" % (len(values), code), *values)
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
