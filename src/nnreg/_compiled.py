"""The Numba versions of :mod:`nnreg.kernels` (imported only when Numba is installed and
not turned off). Every function is defined at module level, so Numba's on-disk cache
finds it again in the next process: nothing is compiled twice. See :mod:`nnreg.kernels`
for what each loop does and for its NumPy reference."""

from __future__ import annotations

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from nnreg.kernels import GATHER_AHEAD

jit = numba.njit(cache=True, nogil=True, boundscheck=False)


@intrinsic
def prefetch_row(typingctx, array, row):
    """``prefetch_row(array, row)``: LLVM's prefetch hint (x86 ``prefetcht0``, AArch64
    ``prfm``) for every 64-byte line of ``array[row]``, a row of a C-contiguous 2-D array.
    A prefetch never faults and changes no value; it only starts a load early."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        first = cgutils.get_item_pointer(context, builder, array_type, view, [args[1], zero])
        byte_pointer = ir.IntType(8).as_pointer()
        base = builder.bitcast(first, byte_pointer)
        i32 = ir.IntType(32)
        # llvm.prefetch is overloaded on the pointer type: "p0" (opaque pointers) or
        # "p0i8" (typed pointers, older LLVM)
        suffix = "p0" if str(base.type) == "ptr" else "p0i8"
        prefetch = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            f"llvm.prefetch.{suffix}",
        )
        itemsize = context.get_constant(types.intp, array_type.dtype.bitwidth // 8)
        length = builder.mul(builder.extract_value(view.shape, 1), itemsize)
        line = context.get_constant(types.intp, 64)
        with cgutils.for_range_slice(builder, zero, length, line) as (offset, _):
            # read (0), keep in all cache levels (3), data cache (1)
            builder.call(prefetch, [builder.gep(base, [offset]), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, row), codegen


# Each loop body is a chain of selects with no early exit, so LLVM vectorizes it.
@jit
def scaled_sign(p, c, out):
    for i in range(p.size):
        x = p[i]
        # 0 → 0 and NaN → NaN, as np.sign(x)·c
        out[i] = c if x > 0 else (-c if x < 0 else x * c)


@jit
def sign_step(p, k):
    for i in range(p.size):
        x = p[i]
        p[i] = (x + k) if x > 0 else ((x - k) if x < 0 else x + x * k)


@jit
def add_scaled(p, h, alpha):
    for i in range(p.size):
        p[i] = p[i] + alpha * h[i]


@jit
def soft_threshold(p, t):
    for i in range(p.size):
        x = p[i]
        # |x| ≤ t → x − x, exactly 0; NaN stays NaN
        p[i] = (x - t) if x > t else ((x + t) if x < -t else x - x)


@jit
def cumulative_shrink(w, applied, total, threshold):
    total[0] = total[0] + threshold
    u = total[0]
    zero = u - u  # 0 in w's dtype (u is finite)
    for i in range(w.size):
        x = w[i]
        q = applied[i]
        # owed = u + sgn(x)·q, never negative
        owed = (q + u) if x > 0 else ((-q + u) if x < 0 else (q * zero + u))
        lower = -owed
        # clip(x, −owed, owed) as np.minimum(np.maximum(x, −owed), owed): NaN x stays NaN
        change = lower if x < lower else x
        change = owed if change > owed else change
        w[i] = x - change
        applied[i] = q - change


@jit
def gather_divided(codes, rows, divisor, out):
    n = rows.shape[0]
    for e in range(min(GATHER_AHEAD, n)):
        prefetch_row(codes, rows[e])
    for e in range(n):
        if e + GATHER_AHEAD < n:
            prefetch_row(codes, rows[e + GATHER_AHEAD])
        source = codes[rows[e]]
        target = out[e]
        for j in range(source.shape[0]):
            # computed in the type of code / divisor, then stored in out's dtype
            target[j] = source[j] / divisor


@jit
def fisher_yates(order, words):
    used = 0
    for i in range(order.shape[0] - 1, 0, -1):
        bound = i + 1
        bits = 0
        while (bound >> bits) > 0:
            bits += 1
        while True:  # random._randbelow: getrandbits(k) until below the bound
            if used == words.shape[0]:
                return -1
            j = words[used] >> (32 - bits)
            used += 1
            if j < bound:
                break
        order[i], order[j] = order[j], order[i]
    return used
