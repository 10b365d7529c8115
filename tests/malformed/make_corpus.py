#!/usr/bin/env python3
"""Writes the corpus of malformed files in tests/malformed/ and the fuzzing seeds.

    python3 tests/malformed/make_corpus.py

Each malformed file is named by its reader and its defect
(safetensors/header_len_huge.safetensors) and listed in expected.txt with the
status its reader must return and a substring its error message must contain;
tests/test_malformed.c checks every line. A few files are not malformed in
the reader's eyes (a truncated CSV that ends on a row boundary is a shorter
CSV): they are listed with SN_OK, so that the test says what each byte string
does rather than skipping it.

The valid files written to fuzz/corpus/<reader>/ are the seeds of the libFuzzer
targets (which also read tests/malformed/<reader>/ as seeds).

Only the Python standard library is needed. The output is deterministic (gzip
with mtime 0), so rerunning the script leaves the committed files unchanged.
"""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ_CORPUS = os.path.join(HERE, "..", "..", "fuzz", "corpus")

# (relative path, bytes, status, substring of the message)
CASES = []
# (reader, file name, bytes)
SEEDS = []


def case(reader, name, data, status, expect):
    assert "\t" not in expect and "\n" not in expect
    assert status == "SN_OK" or expect, name
    CASES.append((f"{reader}/{name}", bytes(data), status, expect))


def seed(reader, name, data):
    SEEDS.append((reader, name, bytes(data)))


def truncation_offsets(total, marks):
    """A dozen offsets: 0, 1, the given marks (format boundaries) and +/- 1
    around them, and the last byte; sorted, inside [0, total)."""
    offsets = {0, 1, total - 1}
    for m in marks:
        offsets.update({m - 1, m, m + 1})
    return sorted(o for o in offsets if 0 <= o < total)


# ---- safetensors ----

def safetensors(header, data=b"", pad=True, header_len=None):
    """A safetensors file: header as a dict (serialised compactly, padded with
    spaces to 8 bytes as the writers do) or as raw bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad and not isinstance(header, bytes):
        text += b" " * (-len(text) % 8)
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + data


def f32(*values):
    return struct.pack(f"<{len(values)}f", *values)


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


# A valid file: a (2, 3) F32, b (2,) I64, and metadata.
ST_HEADER = {
    "__metadata__": {"format": "pt"},
    "a": entry("F32", [2, 3], 0, 24),
    "b": entry("I64", [2], 24, 40),
}
ST_DATA = f32(0.5, -1, 2, 3.25, 4, 5) + struct.pack("<2q", 7, -3)
ST_VALID = safetensors(ST_HEADER, ST_DATA)


def safetensors_cases():
    r = "safetensors"
    seed(r, "valid.safetensors", ST_VALID)
    # Every dtype that converts to float32, and a scalar. (F8, empty and 5-d
    # tensors open but do not convert: they are in the malformed corpus, which
    # the fuzzer reads as seeds too.)
    every = [("F32", [2], f32(1, 2)), ("F64", [1], struct.pack("<d", 1e300)),
             ("F16", [2], struct.pack("<2H", 0x3C00, 0x7C00)), ("BF16", [1], struct.pack("<H", 0x3F80)),
             ("I8", [2], struct.pack("<2b", -128, 7)), ("U8", [2], bytes([0, 255])),
             ("I16", [1], struct.pack("<h", -2)), ("U16", [1], struct.pack("<H", 9)),
             ("I32", [1], struct.pack("<i", -5)), ("U32", [1], struct.pack("<I", 6)),
             ("I64", [1], struct.pack("<q", 1 << 40)), ("U64", [1], struct.pack("<Q", 3)),
             ("BOOL", [2], bytes([0, 1])), ("F32", [], f32(9)), ("U8", [1, 1, 2], b"\x01\x02")]
    header, data = {"__metadata__": {"spec": "Linear(2, 1)", "input_shape": "2"}}, b""
    for i, (dtype, shape, raw) in enumerate(every):
        header[f"t{i}"] = entry(dtype, shape, len(data), len(data) + len(raw))
        data += raw
    seed(r, "every_dtype.safetensors", safetensors(header, data))

    # Truncations of the valid file, around the ends of the length, header and data.
    header_end = len(ST_VALID) - len(ST_DATA)
    for at in truncation_offsets(len(ST_VALID), [8, header_end // 2, header_end, header_end + 24]):
        expect = ("too short for the 8-byte header length" if at < 8
                  else "is larger than the" if at < header_end else "offsets past the end")
        case(r, f"truncated_at_{at}.safetensors", ST_VALID[:at], "SN_ERR_FORMAT", expect)

    F = "SN_ERR_FORMAT"
    case(r, "header_len_huge.safetensors", safetensors(b"{}", header_len=2**64 - 1), F,
         "header length 18446744073709551615 exceeds the limit")
    case(r, "header_len_over_limit.safetensors", safetensors(b"{}", header_len=100000001), F,
         "exceeds the limit of 100000000 bytes")
    case(r, "header_len_past_eof.safetensors", safetensors(b"{}", header_len=1000), F,
         "header length 1000 is larger than the 2 bytes after it")
    case(r, "header_not_json.safetensors", safetensors(b'{"a": nope}'), F, "header is not valid JSON")
    case(r, "header_not_utf8.safetensors", safetensors(b'{"\xff\xfe": 1}'), F,
         "header is not valid UTF-8 (at byte 2)")
    case(r, "header_overlong_utf8.safetensors", safetensors(b'{"\xc0\xaf": 1}'), F,
         "not valid UTF-8")
    case(r, "header_is_array.safetensors", safetensors(b"[1, 2]"), F, "JSON but not an object")
    case(r, "header_trailing_garbage.safetensors", safetensors(b"{}  x"), F,
         "bytes after its JSON object (at byte 4)")
    case(r, "header_nul_byte.safetensors", safetensors(b'{"a\x00": 1}'), F, "header")
    case(r, "header_deep_nesting.safetensors",
         safetensors(b'{"__metadata__": ' + b"[" * 5000 + b"]" * 5000 + b"}"), F,
         "header is not valid JSON")
    case(r, "entry_not_object.safetensors", safetensors({"a": 5}), F,
         "tensor 'a': entry is not a JSON object")

    def one(e, data=ST_DATA[:24], extra=None):
        h = {"a": e}
        h.update(extra or {})
        return safetensors(h, data)

    case(r, "missing_dtype.safetensors", one({"shape": [2, 3], "data_offsets": [0, 24]}), F,
         "missing field 'dtype'")
    case(r, "field_twice.safetensors",
         safetensors(b'{"a":{"dtype":"F32","shape":[6],"shape":[6],"data_offsets":[0,24]}}',
                     ST_DATA[:24]), F, "field 'shape' appears twice")
    case(r, "dtype_unknown.safetensors", one(entry("F128", [2, 3], 0, 24)), F,
         "unknown dtype 'F128'")
    case(r, "dtype_not_string.safetensors", one(entry(5, [2, 3], 0, 24)), F,
         "dtype is not a string")
    case(r, "shape_not_array.safetensors", one(entry("F32", 6, 0, 24)), F, "shape is not an array")
    case(r, "dim_negative.safetensors", one(entry("F32", [-2, 3], 0, 24)), F,
         "shape dimension 0 is not a non-negative integer")
    case(r, "dim_fractional.safetensors", one(entry("F32", [2, 1.5], 0, 24)), F,
         "shape dimension 1 is not a non-negative integer")
    case(r, "dims_nine.safetensors", one(entry("F32", [1] * 8 + [6], 0, 24)), F,
         "shape has 9 dimensions (at most 8)")
    case(r, "dims_product_overflow.safetensors", one(entry("F32", [2**32, 2**32, 2], 0, 24)), F,
         "too many elements (overflow)")
    case(r, "dims_product_overflow_u8.safetensors",
         one(entry("U8", [2**21, 2**21, 2**21, 2], 0, 24)), F, "(overflow)")
    # A size-0 dimension makes the product 0 whatever the others are: the file is
    # valid, and only reading the tensor as an sn_tensor is refused.
    case(r, "dims_overflow_then_zero.safetensors", one(entry("F32", [2**32, 2**32, 0], 0, 0), b""),
         "SN_ERR_UNSUPPORTED", "none empty")
    case(r, "span_mismatch.safetensors", one(entry("F32", [2, 3], 0, 20), ST_DATA[:20]), F,
         "data_offsets [0, 20] span 20 bytes but shape [2, 3] of F32 needs 24")
    case(r, "offsets_begin_after_end.safetensors", one(entry("F32", [0], 24, 0), b""), F,
         "end before they begin")
    case(r, "offsets_fractional.safetensors", one(entry("F32", [2, 3], 0.5, 24)), F,
         "data_offsets must be two non-negative integers")
    case(r, "offsets_three.safetensors",
         one({"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24, 48]}), F,
         "data_offsets must be two non-negative integers")
    case(r, "offsets_2pow53.safetensors", one(entry("U8", [1], 0, 2**53)), F,
         "data_offsets must be two non-negative integers")
    case(r, "offsets_past_eof.safetensors", one(entry("F32", [250000], 0, 1000000)), F,
         "tensors end at byte 1000000 of the data buffer but it holds 24 bytes (offsets past the end)")
    case(r, "offsets_overlap.safetensors",
         safetensors({"a": entry("F32", [2, 3], 0, 24), "b": entry("I64", [2], 16, 32)},
                     ST_DATA[:32]), F, "overlapping ranges")
    case(r, "offsets_gap.safetensors",
         safetensors({"a": entry("F32", [2, 3], 0, 24), "b": entry("I64", [2], 32, 48)},
                     ST_DATA + b"\0" * 8), F, "a gap")
    case(r, "offsets_not_from_zero.safetensors", one(entry("F32", [2, 3], 8, 32), ST_DATA[:32]), F,
         "the data buffer starts at 0 (a gap)")
    case(r, "trailing_bytes.safetensors", ST_VALID + b"\0\0\0\0", F, "(trailing bytes)")
    case(r, "name_twice.safetensors",
         safetensors(b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},'
                     b'"a":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}}', ST_DATA[:24]), F,
         "tensor 'a' appears twice")
    case(r, "metadata_twice.safetensors",
         safetensors(b'{"__metadata__":{},"__metadata__":{}}'), F, "__metadata__ appears twice")
    case(r, "metadata_not_object.safetensors", safetensors({"__metadata__": ["x"]}), F,
         "__metadata__ is not a JSON object")
    case(r, "metadata_value_not_string.safetensors", safetensors({"__metadata__": {"k": 1}}), F,
         "__metadata__ value of 'k' is not a string")
    case(r, "metadata_key_twice.safetensors",
         safetensors(b'{"__metadata__":{"k":"1","k":"2"}}'), F, "__metadata__ key 'k' appears twice")
    # Files that open but whose tensors cannot be read as float32.
    case(r, "bool_byte_2.safetensors", one(entry("BOOL", [2], 0, 2), b"\x01\x02"), F,
         "BOOL byte 2 at element 1 is not 0 or 1")
    case(r, "i64_not_exact_in_f32.safetensors",
         one(entry("I64", [2], 0, 16), struct.pack("<2q", 1, 2**24 + 1)), "SN_ERR_RANGE",
         "I64 value 16777217 at element 1 is not exactly representable as float32")
    case(r, "f8_unsupported.safetensors", one(entry("F8_E4M3", [2], 0, 2), b"\x38\x38"),
         "SN_ERR_UNSUPPORTED", "dtype F8_E4M3 cannot be read as float32")
    case(r, "dims_five_unsupported.safetensors", one(entry("F32", [1, 1, 1, 2, 3], 0, 24)),
         "SN_ERR_UNSUPPORTED", "at most 4 dimensions")


# ---- IDX ----

def idx(type_code, dims, data, magic01=b"\0\0", ndim=None):
    n = len(dims) if ndim is None else ndim
    return magic01 + bytes([type_code, n]) + b"".join(struct.pack(">I", d) for d in dims) + data


def gz(data):
    return gzip.compress(data, mtime=0)


IDX_IMAGES = idx(0x08, [3, 4, 5], bytes(range(60)))  # 3 images of 4x5
IDX_LABELS = idx(0x08, [3], bytes([1, 0, 9]))


def idx_cases():
    r = "idx"
    seed(r, "images-idx3-ubyte", IDX_IMAGES)
    seed(r, "labels-idx1-ubyte.gz", gz(IDX_LABELS))
    seed(r, "floats-idx2-float", idx(0x0D, [2, 2], struct.pack(">4f", 1.5, -2, 0, 3e38)))
    seed(r, "doubles-idx1-double", idx(0x0E, [2], struct.pack(">2d", 1e300, -0.25)))
    seed(r, "shorts-idx1-short.gz", gz(idx(0x0B, [3], struct.pack(">3h", -32768, 0, 32767))))
    seed(r, "ints-idx4-int", idx(0x0C, [1, 1, 1, 2], struct.pack(">2i", -(2**31), 2**31 - 1)))
    seed(r, "signed-idx1-byte", idx(0x09, [2], struct.pack(">2b", -128, 127)))

    F = "SN_ERR_FORMAT"
    # Truncations of a plain image file: in the magic, the sizes, the data.
    for at in truncation_offsets(len(IDX_IMAGES), [4, 10, 16, 46]):
        expect = ("too short for the IDX magic" if at < 4
                  else "file ends inside the 3 dimension sizes" if at < 16
                  else f"header claims 60 bytes of data but the file has {at - 16} (truncated)")
        case(r, f"truncated_at_{at}-idx3-ubyte", IDX_IMAGES[:at], F, expect)
    # ... and of the same file gzipped: the stream is cut, not the content.
    packed = gz(IDX_IMAGES)
    for at in (10, len(packed) // 2, len(packed) - 8, len(packed) - 1):
        case(r, f"truncated_at_{at}-idx3-ubyte.gz", packed[:at], F, "gzip stream")

    case(r, "wrong_magic-idx1-ubyte", idx(0x08, [3], b"\1\2\3", magic01=b"\x08\x03"), F,
         "not an IDX file (magic 0x08030801")
    case(r, "wrong_magic-idx3-ubyte.gz", gz(idx(0x08, [1, 1, 1], b"\0", magic01=b"PK")), F,
         "not an IDX file")
    case(r, "type_unknown-idx1", idx(0x07, [3], b"\1\2\3"), F, "unknown IDX element type 0x07")
    case(r, "ndim_0-idx0-ubyte", idx(0x08, [], b""), F, "IDX file has 0 dimensions")
    case(r, "ndim_5-idx5-ubyte", idx(0x08, [1] * 5, b"\0"), F, "IDX file has 5 dimensions")
    case(r, "ndim_255-ubyte", idx(0x08, [], b"", ndim=255), F, "IDX file has 255 dimensions")
    case(r, "dim_zero-idx3-ubyte", idx(0x08, [3, 0, 5], b""), F, "dimension 1 has size 0")
    count = 2**32 - 1
    case(r, f"count_{count}-idx1-ubyte", idx(0x08, [count], bytes(10)), F,
         f"header claims {count} bytes of data but the file has 10 (truncated)")
    case(r, f"count_{count}-idx1-ubyte.gz", gz(idx(0x08, [count], bytes(10))), F,
         f"header claims {count} bytes of data but the stream holds 10 (truncated)")
    case(r, "dims_product_overflow-idx3-ubyte", idx(0x08, [count] * 3, bytes(8)), F,
         "dimension sizes claim more than 17179869184 bytes of data")
    case(r, "dims_product_overflow-idx4-double", idx(0x0E, [2**16] * 4, bytes(8)), F,
         "dimension sizes claim more than 17179869184 bytes of data (size 1 is 65536)")
    case(r, "trailing_bytes-idx1-ubyte", IDX_LABELS + b"\0", F, "(trailing bytes)")
    case(r, "trailing_bytes-idx1-ubyte.gz", gz(IDX_LABELS + b"\0"), F,
         "trailing bytes after the data the header claims")
    case(r, "short_data-idx2-double", idx(0x0E, [2, 2], bytes(31)), F,
         "header claims 32 bytes of data but the file has 31 (truncated)")
    bad_crc = bytearray(gz(IDX_LABELS))
    bad_crc[-8] ^= 0xFF  # the CRC-32 of the gzip trailer
    case(r, "bad_crc-idx1-ubyte.gz", bad_crc, F, "corrupt gzip stream")
    bad_deflate = bytearray(gz(IDX_IMAGES))
    bad_deflate[10] = 0xFF  # first byte of the deflate stream: an invalid block type
    case(r, "bad_deflate-idx3-ubyte.gz", bad_deflate, F, "corrupt gzip stream")


# ---- CSV ----

CSV_VALID = b"label,x1,x2,x3\n1,0.5,-2,3e2\n0,1.25,0,4\n2,7,8,9\n"


def csv_cases():
    r = "csv"
    seed(r, "valid_header.csv", CSV_VALID)
    seed(r, "valid_no_header_crlf.csv", b"0,1,2\r\n1,3,4\r\n")
    seed(r, "valid_bom_float_targets.csv", b"\xef\xbb\xbfy,a\n0.5, 1\n-1.5,\t2\n\n")
    F = "SN_ERR_FORMAT"
    # Truncations: inside the header, on row boundaries (valid, shorter files),
    # inside a row (fewer columns) and inside a number (still a number).
    for at in CSV_TRUNCATED:
        CSV_TRUNCATED[at](r, f"truncated_at_{at}.csv", CSV_VALID[:at])
    case(r, "non_numeric_cell.csv", b"1,2,3\n0,abc,4\n", F, ":2:2: not a number: 'abc'")
    # (A first row with a bad cell would be taken for a header: the bad cells
    # are on the second row.)
    case(r, "empty_cell.csv", b"1,2,3\n0,,3\n", F, ":2:2: empty cell")
    case(r, "quoted_cell.csv", b'1,2,3\n0,"2",3\n', F, ":2:2: quoted fields are not supported")
    case(r, "nan_cell.csv", b"1,2,3\n0,nan,2\n", F, ":2:2: not a number: 'nan'")
    case(r, "inf_cell.csv", b"1,2,3\n0,-inf,2\n", F, ":2:2: not a number: '-inf'")
    case(r, "hex_float_cell.csv", b"1,2\n0,0x1p3\n", F, ":2:2: not a number: '0x1p3'")
    case(r, "out_of_float_range.csv", b"1,2\n0,1e39\n", F, ":2:2: number out of float range: '1e39'")
    case(r, "two_points.csv", b"1,2\n0,1.2.3\n", F, ":2:2: not a number: '1.2.3'")
    case(r, "long_cell.csv", b"1,2\n0," + b"1" * 200 + b"\n", F, ":2:2: not a number: '1111")
    case(r, "ragged_row_short.csv", b"1,2,3\n0,1\n", F, ":2: 2 columns, but the first row has 3")
    case(r, "ragged_row_long.csv", b"1,2\n0,1,5\n", F, ":2: 3 columns, but the first row has 2")
    case(r, "nul_byte.csv", b"1,2\n0,\x001\n", F, ":2: NUL byte")
    case(r, "empty_line_inside.csv", b"1,2\n\n0,1\n", F, ":2: empty line before more data (line 3)")
    case(r, "empty_file.csv", b"", F, "no rows")
    case(r, "only_empty_lines.csv", b"\n\r\n\n", F, "no rows")
    case(r, "header_only.csv", b"label,x\n", F, "a header row and no data")
    case(r, "one_column.csv", b"1\n2\n", "SN_ERR_INVALID_ARG",
         "label column 0 with 1 column: a CSV dataset needs a label column and at least one feature")
    # The first row sets the column count; a later row with thousands of cells
    # (or none) must be refused, not trusted.
    case(r, "ragged_wide_second_row.csv", b"1,2\n" + b"0," * 5000 + b"0\n", F,
         ":2: 5001 columns, but the first row has 2")
    case(r, "binary_garbage.csv", bytes(range(1, 256)), F, ":2: 2 columns, but the first row has 1")
    # Found by fuzz_csv: a wide first row and many short rows once made the
    # reader allocate rows x first-row columns (80 MB for 18 KB) before it
    # looked at the second row. The first pass now checks every row.
    case(r, "ragged_rows_wide_first_row.csv", b"0," * 1999 + b"0\n" + b"0\n" * 8000, F,
         ":2: 1 columns, but the first row has 2000")


# What each truncation of CSV_VALID must give. The header is detected by its
# non-numeric cells, so a file cut inside the header has no data rows; a cut
# at the end of a row leaves a valid, shorter file.
def _csv_expect(status, expect=""):
    return lambda r, name, data: case(r, name, data, status, expect)


CSV_TRUNCATED = {
    0: _csv_expect("SN_ERR_FORMAT", "no rows"),
    1: _csv_expect("SN_ERR_FORMAT", "a header row and no data"),
    7: _csv_expect("SN_ERR_FORMAT", "a header row and no data"),
    15: _csv_expect("SN_ERR_FORMAT", "a header row and no data"),
    20: _csv_expect("SN_ERR_FORMAT", ":2: 2 columns, but the first row has 4"),
    26: _csv_expect("SN_ERR_FORMAT", ":2:4: not a number: '3e'"),
    27: _csv_expect("SN_OK"),
    31: _csv_expect("SN_ERR_FORMAT", ":3: 2 columns, but the first row has 4"),
    40: _csv_expect("SN_ERR_FORMAT", ":4: 1 columns, but the first row has 4"),
    44: _csv_expect("SN_ERR_FORMAT", ":4: 3 columns, but the first row has 4"),
    45: _csv_expect("SN_ERR_FORMAT", ":4:4: empty cell"),
    46: _csv_expect("SN_OK"),
}


# ---- model spec ----

SPEC_PRINTED = b"""Sequential(
  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
  (1): ReLU()
  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): Linear(in_features=1176, out_features=10, bias=True)
)
"""

SPEC_LENET5 = b"""# LeNet-5 on 1x28x28 inputs
Conv2d(1, 6, kernel_size=5, padding=2)
ReLU()
MaxPool2d(2)
Conv2d(6, 16, 5)
Tanh()
AvgPool2d(2, stride=2, count_include_pad=False)
Flatten()
Linear(400, 120)
LeakyReLU(negative_slope=0.2)
Dropout(p=0.25)
Linear(120, 84, bias=False)
Sigmoid()
Linear(84, 10)
LogSoftmax(dim=1)
"""


def spec_cases():
    r = "spec"
    seed(r, "lenet5.txt", SPEC_LENET5)
    seed(r, "printed_sequential.txt", SPEC_PRINTED)
    seed(r, "every_module.txt", b"Linear(4, 3)\nStep()\nIdentity()\nSoftmax(dim=1)\n"
         b"nn.ReLU(),  # as in Python code\n")
    F, U = "SN_ERR_FORMAT", "SN_ERR_UNSUPPORTED"
    for at, status, expect in SPEC_TRUNCATED:
        case(r, f"truncated_at_{at}.txt", SPEC_PRINTED[:at], status, expect)
    case(r, "unbalanced_paren.txt", b"Linear(4, 3\nReLU()\n", F,
         ":1: Linear: unbalanced parentheses: missing ')'")
    case(r, "extra_close_paren.txt", b"ReLU())\n", F, ":1: ReLU: unbalanced parentheses: one ')' too many")
    case(r, "unknown_module.txt", b"Dense(4, 3)\n", F, ":1: Dense: unknown module")
    # Found by fuzz_spec: 20,000 valid modules before a bad line once cost 15x
    # the text in module structs; the checking pass now allocates nothing.
    case(r, "many_modules_then_error.txt", b"ReLU()\n" * 20000 + b"Dense(4, 3)\n", F,
         ":20001: Dense: unknown module")
    case(r, "dilation_2.txt", b"Conv2d(1, 6, 5, dilation=2)\n", U,
         ":1: Conv2d: dilation=2 is not supported")
    case(r, "ceil_mode_true.txt", b"ReLU()\nMaxPool2d(2, ceil_mode=True)\n", U,
         ":2: MaxPool2d: ceil_mode=True is not supported")
    case(r, "padding_mode_reflect.txt", b"Conv2d(1, 6, 3, padding_mode='reflect')\n", U,
         ":1: Conv2d: padding_mode='reflect' is not supported")
    case(r, "malformed_number.txt", b"Linear(4x, 3)\n", F, ":1: Linear: malformed number '4x'")
    case(r, "int_overflow.txt", b"Linear(99999999999999999999, 3)\n", F,
         "integer '99999999999999999999' is out of range")
    case(r, "int_2pow31.txt", b"Linear(2147483648, 3)\n", F, "out of range (limit 2^31 - 1)")
    case(r, "number_too_long.txt", b"Dropout(p=0." + b"0" * 80 + b"1)\n", F, "is too long")
    case(r, "float_for_int.txt", b"Linear(4.5, 3)\n", F, "in_features=4.5: in_features must be an int")
    case(r, "string_for_int.txt", b"Linear('4', 3)\n", F, "in_features='4': in_features must be an int")
    case(r, "negative_features.txt", b"Linear(-4, 3)\n", F, ":1: Linear: in_features=-4 must be >= 1")
    case(r, "zero_kernel.txt", b"Conv2d(1, 6, 0)\n", F, ":1: Conv2d: kernel_size=0 must be >= 1")
    case(r, "kernel_tuple_of_3.txt", b"Conv2d(1, 6, kernel_size=(5, 5, 5))\n", F,
         "kernel_size must be an int or a pair of ints")
    case(r, "dropout_p_1_5.txt", b"Dropout(p=1.5)\n", F, ":1: Dropout: p=1.5 must be between 0 and 1")
    case(r, "dropout_p_nan.txt", b"Dropout(p=nan)\n", F, ":1: Dropout: p=nan: p must be a number")
    case(r, "missing_argument.txt", b"Linear(4)\n", F, "missing required argument 'out_features'")
    case(r, "duplicate_keyword.txt", b"Linear(4, 3, bias=True, bias=False)\n", F,
         "argument 'bias' given twice")
    case(r, "keyword_and_positional.txt", b"Linear(4, 3, in_features=4)\n", F,
         "argument 'in_features' given twice")
    case(r, "unknown_keyword.txt", b"Linear(4, 3, frobnicate=1)\n", F,
         "unknown argument 'frobnicate'")
    case(r, "positional_after_keyword.txt", b"Linear(in_features=4, 3)\n", F,
         "positional argument follows keyword argument")
    case(r, "too_many_arguments.txt", b"Linear(" + b", ".join(b"1" for _ in range(20)) + b")\n", F,
         "too many arguments")
    case(r, "unterminated_string.txt", b"Conv2d(1, 6, 3, padding_mode='zeros)\n", F,
         "unterminated string")
    case(r, "nul_byte.txt", b"ReLU()\nTanh(\x00)\n", F, ":2: Tanh: unexpected character '\\x00'")
    case(r, "not_utf8.txt", b"ReLU\xff()\n", F, ":1: ReLU: unexpected character '\\xff'")
    case(r, "only_comments.txt", b"# nothing here\n\n   # nor here\n", F, "no modules in the spec")
    case(r, "empty.txt", b"", F, "no modules in the spec")
    case(r, "sequential_unclosed.txt", b"Sequential(\n  (0): ReLU()\n", F,
         "'Sequential(' is never closed")
    case(r, "sequential_nested.txt", b"Sequential(\n  (0): Sequential(\n)\n", U,
         "a nested Sequential is not supported")
    case(r, "sequential_after_module.txt", b"ReLU()\nSequential(\n)\n", F,
         "'Sequential(' may only open the spec")
    case(r, "text_after_sequential.txt", b"Sequential(\n  (0): ReLU()\n)\nTanh()\n", F,
         "text after the ')' that closes 'Sequential(' of line 1")
    case(r, "close_without_sequential.txt", b"ReLU()\n)\n", F, "')' without 'Sequential(' to close")
    case(r, "index_mismatch.txt", b"Sequential(\n  (1): ReLU()\n)\n", F,
         "index (1) does not match the module's position 0")
    case(r, "named_module.txt", b"Sequential(\n  (fc): Linear(4, 3)\n)\n", U,
         "named module '(fc)' is not supported")
    case(r, "text_after_module.txt", b"ReLU() Tanh()\n", F, "unexpected text after ')': 'Tanh()'")


# Where a cut of SPEC_PRINTED falls decides its error; the offsets are the
# starts of lines and points inside the first module's arguments.
SPEC_TRUNCATED = [
    (0, "SN_ERR_FORMAT", "no modules in the spec"),
    (5, "SN_ERR_FORMAT", ":1: Seque: unknown module"),
    (11, "SN_ERR_FORMAT", ":1: Sequential: unbalanced parentheses: 'Sequential(' is never closed"),
    (12, "SN_ERR_FORMAT", ":1: Sequential: unbalanced parentheses: 'Sequential(' is never closed"),
    (16, "SN_ERR_FORMAT", ":2: expected"),
    (18, "SN_ERR_FORMAT", ":2: expected"),
    (25, "SN_ERR_FORMAT", ":2: Conv2d: expected"),
    (38, "SN_ERR_FORMAT", ":2: Conv2d: unbalanced parentheses: missing ')'"),
    (50, "SN_ERR_FORMAT", ":2: Conv2d: unbalanced parentheses: missing ')'"),
    (80, "SN_ERR_FORMAT", ":2: Conv2d: unbalanced parentheses: missing ')'"),
    (83, "SN_ERR_FORMAT", ":1: Sequential: unbalanced parentheses: 'Sequential(' is never closed"),
    (len(SPEC_PRINTED) - 2, "SN_ERR_FORMAT", "'Sequential(' is never closed"),
    (len(SPEC_PRINTED) - 1, "SN_OK", ""),
]


# ---- writing ----

def write_all():
    readers = sorted({path.split("/")[0] for path, *_ in CASES} | {r for r, _, _ in SEEDS})
    for reader in readers:
        for directory in (os.path.join(HERE, reader), os.path.join(FUZZ_CORPUS, reader)):
            os.makedirs(directory, exist_ok=True)
            for stale in os.listdir(directory):
                os.remove(os.path.join(directory, stale))
    for path, data, _, _ in CASES:
        with open(os.path.join(HERE, path), "wb") as f:
            f.write(data)
    for reader, name, data in SEEDS:
        with open(os.path.join(FUZZ_CORPUS, reader, name), "wb") as f:
            f.write(data)
    with open(os.path.join(HERE, "expected.txt"), "w") as f:
        f.write("# Written by make_corpus.py: do not edit by hand.\n"
                "# file<TAB>status<TAB>substring that the error message must contain\n")
        for path, _, status, expect in CASES:
            f.write(f"{path}\t{status}\t{expect}\n")
    print(f"{len(CASES)} malformed files, {len(SEEDS)} fuzzing seeds")


safetensors_cases()
idx_cases()
csv_cases()
spec_cases()
write_all()
