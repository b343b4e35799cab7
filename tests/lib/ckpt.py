#!/usr/bin/env python3
"""ckpt.py - read and edit `alig train` checkpoints (checkpoint.bin) for the shell tests.

The layout is the one docs/training.md gives (native byte order; every size
a u64), read independently of the C reader:
  "ALIGTRCK" u32 version u32 bom | model[64] | desc | x | buf | u64 rng_seed u64 rng_step
  | solver[32] | params | f64 radius | state | u32 step_mode | u64 steps_done epochs_done log_every
  | f64 clip_norm | f64 win_loss win_step win_stepu | u64 win_steps win_zero_grad win_clips win_clipped
  | version 2: u64 csv_bytes u32 csv_crc u64 jsonl_bytes u32 jsonl_crc
  | version 1: u64 csv_bytes, csv | u64 jsonl_bytes, jsonl
  | user (the settings block) | u32 CRC-32 of everything before it
(each "desc", "x", ... being u64 byte count + bytes). Edits recompute the trailing CRC, so the
file stays readable and what is tested is the validation behind the CRC.

usage:
  ckpt.py state FILE                 sha256 of the training state: every byte up to the log fields
                                     (model, buffers, random stream, solver, counters, open window)
  ckpt.py get FILE FIELD             print a field (version, steps_done, epochs_done, win_steps,
                                     csv_bytes, jsonl_bytes)
  ckpt.py settings FILE              print the settings block
  ckpt.py put-settings FILE          replace the settings block by stdin
  ckpt.py put FILE FIELD VALUE       set a u64 field (steps_done, epochs_done, win_steps, csv_bytes)
  ckpt.py to-v1 FILE CSV JSONL       rewrite a version-2 checkpoint as version 1, with the first
                                     csv_bytes / jsonl_bytes of those files inline
"""
import hashlib
import struct
import sys
import zlib


def parse(data):
    """Offsets of the fields: a dict name -> (offset, length)."""
    assert data[:8] == b"ALIGTRCK", "not a checkpoint"
    f = {}
    pos = 8
    version, bom = struct.unpack_from("=II", data, pos)
    assert bom == 0x01020304, "byte order"
    f["version"] = (pos, 4)
    pos += 8 + 64

    def block(name):
        nonlocal pos
        (n,) = struct.unpack_from("=Q", data, pos)
        f[name] = (pos + 8, n)
        pos += 8 + n

    block("desc")
    block("x")
    block("buf")
    pos += 16 + 32
    block("params")
    pos += 8
    block("state")
    f["step_mode"] = (pos, 4)
    pos += 4
    for name in ("steps_done", "epochs_done", "log_every"):
        f[name] = (pos, 8)
        pos += 8
    pos += 8 + 24                      # clip_norm, three window sums
    for name in ("win_steps", "win_zero_grad", "win_clips", "win_clipped"):
        f[name] = (pos, 8)
        pos += 8
    f["state_end"] = (pos, 0)
    if version == 2:
        f["csv_bytes"] = (pos, 8)
        f["csv_crc"] = (pos + 8, 4)
        f["jsonl_bytes"] = (pos + 12, 8)
        f["jsonl_crc"] = (pos + 20, 4)
        pos += 24
    else:
        block("csv")
        block("jsonl")
    f["logs_end"] = (pos, 0)
    block("user")
    assert pos + 4 == len(data), "length"
    (crc,) = struct.unpack_from("=I", data, pos)
    assert crc == zlib.crc32(data[:pos]) & 0xFFFFFFFF, "CRC"
    return version, f


def seal(body):
    """body (everything but the CRC) + its CRC-32."""
    return body + struct.pack("=I", zlib.crc32(body) & 0xFFFFFFFF)


def main(argv):
    cmd, path = argv[1], argv[2]
    data = open(path, "rb").read()
    version, f = parse(data)
    if cmd == "state":
        print(hashlib.sha256(data[:f["state_end"][0]]).hexdigest())
    elif cmd == "get":
        name = argv[3]
        off, n = f[name]
        print(int.from_bytes(data[off:off + n], sys.byteorder) if name != "csv_bytes" or version == 2 else n)
    elif cmd == "settings":
        off, n = f["user"]
        sys.stdout.write(data[off:off + n].decode())
    elif cmd == "put-settings":
        off, n = f["user"]
        new = sys.stdin.buffer.read()
        body = data[:off - 8] + struct.pack("=Q", len(new)) + new
        open(path, "wb").write(seal(body))
    elif cmd == "put":
        name, value = argv[3], int(argv[4])
        off, n = f[name]
        assert n == 8
        body = data[:off] + struct.pack("=Q", value) + data[off + 8:-4]
        open(path, "wb").write(seal(body))
    elif cmd == "to-v1":
        assert version == 2
        csv = open(argv[3], "rb").read()
        jsonl = open(argv[4], "rb").read()
        cb = int.from_bytes(data[f["csv_bytes"][0]:f["csv_bytes"][0] + 8], sys.byteorder)
        jb = int.from_bytes(data[f["jsonl_bytes"][0]:f["jsonl_bytes"][0] + 8], sys.byteorder)
        se, le = f["state_end"][0], f["logs_end"][0]
        body = (data[:8] + struct.pack("=I", 1) + data[12:se]
                + struct.pack("=Q", cb) + csv[:cb] + struct.pack("=Q", jb) + jsonl[:jb] + data[le:-4])
        open(path, "wb").write(seal(body))
    else:
        sys.exit("ckpt.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
