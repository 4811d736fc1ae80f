// This module is compiled with `-parse-stdlib` (Package.swift) so it can name an LLVM intrinsic
// through `Builtin`. It holds nothing else: every other kernel is plain Swift in `Tensor`.
import Swift

/// `r[i] = a[2i]·b[2i] + a[2i+1]·b[2i+1]` in 32-bit lanes: the x86 `vpmaddwd` instruction.
///
/// Written as plain SIMD arithmetic (widen, multiply, add even and odd lanes) LLVM's SLP vectoriser
/// splits the even and odd halves before instruction selection can match `vpmaddwd`, and the
/// product becomes `vpmulld` plus shuffles, several times slower. Naming the intrinsic is the only
/// way to get the one instruction from Swift; `@_transparent` inlines it into the callers' loops.
/// The result never overflows for 16-bit operands except when all four are −32768.
@_transparent
public func multiplyAddPairs(_ a: SIMD16<Int16>, _ b: SIMD16<Int16>) -> SIMD8<Int32> {
    #if arch(x86_64)
        var r = SIMD8<Int32>()
        r._storage._value = Builtin.int_x86_avx2_pmadd_wd(a._storage._value, b._storage._value)
        return r
    #else
        var r = SIMD8<Int32>()
        for i in 0..<8 {
            r[i] = Int32(a[2 &* i]) &* Int32(b[2 &* i]) &+ Int32(a[2 &* i &+ 1]) &* Int32(b[2 &* i &+ 1])
        }
        return r
    #endif
}

/// Asks the CPU to start loading the cache line at `p` (`prefetcht0`; never faults, whatever `p`).
///
/// Decoding one token streams the model's ~100 MB of weights through one core; the profile showed
/// the matrix-vector loops waiting on the first use of each weight line, so the loops request
/// the rows they will need next while they compute on the current ones.
@_transparent
public func prefetch(_ p: UnsafeRawPointer) {
    Builtin.int_prefetch_RawPointer(p._rawValue, Int32(0)._value, Int32(3)._value, Int32(1)._value)
}
