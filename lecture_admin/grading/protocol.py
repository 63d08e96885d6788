"""What passes between the grader and the sandboxed kernel: plain data only.

Values come back as JSON printed after a per-request nonce; arrays travel as raw little-endian bytes with an
allow-listed dtype and are rebuilt (and their length checked) by the grader. Nothing is unpickled or evaluated.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

DTYPES = frozenset({"|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8"})
# Typed outcomes (Reply.ename): a masked course module, a dead kernel, a call that timed out.
MASKED_ENAME = "CourseAnswerUnavailable"
KERNEL_DIED = "KernelDied"
TIMED_OUT = "TimedOut"


@dataclass
class CellResult:
    status: Literal["ok", "error", "timeout", "dead"]
    ename: str = ""
    evalue: str = ""
    stdout: str = ""


@dataclass
class Reply:
    ok: bool
    value: object = None
    error: str = ""
    ename: str = ""


# Sent before every evaluate request; runs in the kernel, uses only json/base64/numpy.
PRELUDE = r'''
def __lecgrade_eval(__g, __nonce, __expr, __env_file):
    import base64, json, os
    import numpy as np

    def dec(o):
        if isinstance(o, list):
            return [dec(x) for x in o]
        if isinstance(o, dict) and "__ndarray__" in o:
            raw = base64.b64decode(o["__ndarray__"])
            return np.frombuffer(raw, dtype=np.dtype(o["dtype"])).reshape(o["shape"]).copy()
        if isinstance(o, dict):
            return {k: dec(v) for k, v in o.items()}
        return o

    def enc(v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if type(v).__module__.split(".")[0] == "torch" and hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        if isinstance(v, np.generic) and v.dtype.kind in "biuf":
            return v.item()
        if isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            a = v.astype(v.dtype.newbyteorder("<"), copy=False)  # tobytes() is C order
            return {"__ndarray__": base64.b64encode(a.tobytes()).decode(), "dtype": a.dtype.str,
                    "shape": list(a.shape)}
        if isinstance(v, (list, tuple)):
            return [enc(x) for x in v]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v) and "__ndarray__" not in v:
            return {k: enc(x) for k, x in v.items()}
        raise TypeError(f"cannot return a value of type {type(v).__name__}" + (
            f" with dtype {v.dtype}" if hasattr(v, "dtype") else ""))

    try:
        ns = dict(__g)
        with open(__env_file) as f:
            ns.update(dec(json.load(f)))
        os.remove(__env_file)
        out = {"ok": True, "value": enc(eval(__expr, ns))}
    except Exception as e:
        out = {"ok": False, "ename": type(e).__name__, "evalue": str(e)[:2000]}
    print("\n" + __nonce + " " + json.dumps(out), flush=True)
'''


def encode(v: Any, depth: int = 0) -> Any:
    """Grader side: a plain value for the kernel's `env` (strict)."""
    if depth > 50:
        raise ValueError("env value nested too deeply")
    if isinstance(v, np.generic) and v.dtype.kind in "biuf":
        v = v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.ndarray) and v.dtype.newbyteorder("<").str in DTYPES:
        a = v.astype(v.dtype.newbyteorder("<"), copy=False)  # tobytes() is C order
        return {"__ndarray__": base64.b64encode(a.tobytes()).decode(), "dtype": a.dtype.str, "shape": list(a.shape)}
    if isinstance(v, (list, tuple)):
        return [encode(x, depth + 1) for x in v]
    if isinstance(v, dict) and all(isinstance(k, str) for k in v) and "__ndarray__" not in v:
        return {k: encode(x, depth + 1) for k, x in v.items()}
    raise TypeError(f"env cannot hold a {type(v).__name__}")


def decode(o: Any, depth: int = 0) -> Any:
    """Grader side: rebuild a value from the kernel's JSON, checking every array."""
    if depth > 100:
        raise ValueError("nested too deeply")
    if isinstance(o, int) and not isinstance(o, bool) and not -(2**63) <= o < 2**63:
        raise ValueError("integer out of the int64 range")
    if o is None or isinstance(o, (bool, int, float, str)):
        return o
    if isinstance(o, list):
        return [decode(x, depth + 1) for x in o]
    if not isinstance(o, dict):
        raise TypeError(type(o).__name__)
    if "__ndarray__" not in o:
        return {k: decode(v, depth + 1) for k, v in o.items()}
    shape = o.get("shape")
    if set(o) != {"__ndarray__", "dtype", "shape"} or o["dtype"] not in DTYPES or not isinstance(shape, list):
        raise ValueError("bad array header")
    if not all(type(n) is int and n >= 0 for n in shape) or not isinstance(o["__ndarray__"], str):
        raise ValueError("bad array shape")
    raw = base64.b64decode(o["__ndarray__"], validate=True)
    dtype = np.dtype(o["dtype"])
    if len(raw) != dtype.itemsize * math.prod(shape):
        raise ValueError("array byte length does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


class NonceLines:
    """Streams stdout text; keeps the lines that start with `<nonce> ` (bounded memory)."""

    def __init__(self, nonce: str, max_bytes: int) -> None:
        self.prefix, self.limit = nonce + " ", max_bytes + len(nonce) + 1
        self.partial, self.skipping = "", False
        self.lines: list[str] = []
        self.count, self.too_large = 0, False

    def feed(self, text: str) -> None:
        *complete, self.partial = (self.partial + text).split("\n")
        for line in complete:
            if self.skipping:  # the rest of an over-long line
                self.skipping = False
            elif line.startswith(self.prefix):
                self.count += 1
                if len(line.encode()) > self.limit:
                    self.too_large = True
                else:
                    self.lines.append(line[len(self.prefix):])
        if len(self.partial) > self.limit:
            if not self.skipping and self.partial.startswith(self.prefix):
                self.count, self.too_large = self.count + 1, True
            self.partial, self.skipping = "", True

    def finish(self) -> None:
        self.feed("\n")
