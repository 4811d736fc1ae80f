import Crypto

/// Ed25519 verification that keeps precomputed multiples of the keys it sees repeatedly.
///
/// A node verifies the same few keys over and over: participants sign every Start and Finish, and
/// a developer signs every request. BoringSSL's `ED25519_verify` (behind ``PublicKey``) decodes
/// the key and runs ~250 doublings each time. Here a key's second signature builds a
/// ``PointTable`` of −A (~2 verifications' worth of work, ~30 KiB); from then on a check is two
/// fixed-base multiplications sharing one accumulator: R′ = [S]B + [k](−A), then
/// `encode(R′) == R`, about 2.5× cheaper. A key seen once is checked by BoringSSL.
///
/// The rules are BoringSSL's exactly (RFC 8032 §5.1.7, cofactorless): S must be below the group
/// order L, the top three bits of the signature must be clear, A must decode, and the encoding of
/// [S]B − [k]A must equal R byte for byte, with k = SHA-512(R ‖ A ‖ M) mod L. Both paths give the
/// same answer for every input (tested against BoringSSL on valid, corrupted and edge-case
/// signatures), so which path a node takes never changes a result.
///
/// Not thread-safe: one owner (the ledger) uses it at a time.
public final class Ed25519Verifier {
    /// Keys with a table at most; the oldest table is dropped first.
    public let tableCapacity: Int
    private var tables: [PublicKey: PointTable] = [:]
    private var tableOrder: [PublicKey] = []
    private var tableHead = 0
    /// Keys seen once (bounded like the tables): the second signature builds the table.
    private var seenOnce: Set<PublicKey> = []
    private var seenOrder: [PublicKey] = []
    private var seenHead = 0

    /// The shared table of the base point B.
    private static let baseTable = PointTable(.base)
    /// L = 2²⁵² + 27742317777372353535851937790883648493, little-endian 64-bit words.
    static let order: [UInt64] = [0x5812_631A_5CF5_D3ED, 0x14DE_F9DE_A2F7_9CD6, 0, 0x1000_0000_0000_0000]
    /// ⌊2⁵¹² / L⌋ for Barrett reduction.
    private static let barrettMu: [UInt64] = [
        0xED9C_E5A3_0A2C_131B, 0x2106_215D_0863_29A7, 0xFFFF_FFFF_FFFF_FFEB, 0xFFFF_FFFF_FFFF_FFFF, 0xF,
    ]

    /// `tableCapacity` keys get tables (~30 KiB each).
    public init(tableCapacity: Int = 512) {
        self.tableCapacity = max(tableCapacity, 1)
    }

    /// How many keys have a table now.
    public var tableCount: Int { tables.count }

    /// Whether `signature` is `key`'s Ed25519 signature of exactly `message`.
    public func isValidSignature(
        _ signature: some Collection<UInt8>, for message: some Collection<UInt8>, by key: PublicKey
    ) -> Bool {
        guard signature.count == 64 else { return false }
        guard let table = table(for: key) else {
            return key.isValidSignature(Array(signature), for: Array(message))
        }
        return Self.verify(Array(signature), message: Array(message), key: key.bytes, negatedKeyTable: table)
    }

    /// The table of −A, building it on the key's second use; `nil` on its first use.
    private func table(for key: PublicKey) -> PointTable? {
        if let table = tables[key] { return table }
        guard seenOnce.contains(key) else {
            remember(key, in: &seenOnce, order: &seenOrder, head: &seenHead)
            return nil
        }
        guard let point = EdwardsPoint(decoding: key.bytes) else { return nil }
        let table = PointTable(point.negated)
        tables[key] = table
        tableOrder.append(key)
        if tables.count > tableCapacity {
            tables[tableOrder[tableHead]] = nil
            tableHead += 1
            if tableHead >= tableCapacity {
                tableOrder.removeFirst(tableHead)
                tableHead = 0
            }
        }
        return table
    }

    private func remember(_ key: PublicKey, in set: inout Set<PublicKey>, order: inout [PublicKey], head: inout Int) {
        guard set.insert(key).inserted else { return }
        order.append(key)
        if set.count > tableCapacity * 4 {
            set.remove(order[head])
            head += 1
            if head >= tableCapacity * 4 {
                order.removeFirst(head)
                head = 0
            }
        }
    }

    /// The check itself, given the table of −A (BoringSSL's `ED25519_verify` step by step).
    static func verify(_ signature: [UInt8], message: [UInt8], key: [UInt8], negatedKeyTable: PointTable) -> Bool {
        guard signature[63] & 0xE0 == 0 else { return false }
        let r = Array(signature[0..<32])
        let s = Array(signature[32..<64])
        guard isBelowOrder(s) else { return false }
        var hasher = SHA512()
        hasher.update(data: r)
        hasher.update(data: key)
        hasher.update(data: message)
        let k = reduceModOrder(Array(hasher.finalize()))
        let point = PointTable.combination(
            PointTable.digits(s), baseTable, PointTable.digits(k), negatedKeyTable)
        return point.encoded == r
    }

    /// Whether a 32-byte little-endian scalar is below L (RFC 8032's malleability check).
    static func isBelowOrder(_ s: [UInt8]) -> Bool {
        let words = littleEndianWords(s)
        for i in (0..<4).reversed() where words[i] != order[i] {
            return words[i] < order[i]
        }
        return false
    }

    /// A 64-byte little-endian integer mod L, as 32 little-endian bytes (Barrett, HAC 14.42, with
    /// b = 2⁶⁴ and k = 4).
    static func reduceModOrder(_ wide: [UInt8]) -> [UInt8] {
        let x = littleEndianWords(wide)
        let q3 = Array(multiply(Array(x[3..<8]), barrettMu)[5..<10])
        let r2 = Array(multiply(q3, order).prefix(5))
        var r = subtract(Array(x[0..<5]), r2)
        let order5 = order + [0]
        while !isLess(r, order5) { r = subtract(r, order5) }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in r.prefix(4) {
            for j in 0..<8 { out.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(j)))) }
        }
        return out
    }

    private static func littleEndianWords(_ bytes: [UInt8]) -> [UInt64] {
        stride(from: 0, to: bytes.count, by: 8).map { start in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[start + $1]) << (8 * UInt64($1)) }
        }
    }

    /// The full product of two little-endian multi-word integers.
    private static func multiply(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        var r = [UInt64](repeating: 0, count: a.count + b.count)
        for i in a.indices {
            var carry: UInt64 = 0
            for j in b.indices {
                let (high, low) = a[i].multipliedFullWidth(by: b[j])
                let (s1, o1) = r[i + j].addingReportingOverflow(low)
                let (s2, o2) = s1.addingReportingOverflow(carry)
                r[i + j] = s2
                // r + low + carry + high·2⁶⁴ < 2¹²⁸: the new carry fits.
                carry = high &+ (o1 ? 1 : 0) &+ (o2 ? 1 : 0)
            }
            r[i + b.count] = carry
        }
        return r
    }

    /// a − b modulo 2^(64·count) (equal word counts).
    private static func subtract(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        var r = a
        var borrow: UInt64 = 0
        for i in a.indices {
            let (d1, o1) = a[i].subtractingReportingOverflow(b[i])
            let (d2, o2) = d1.subtractingReportingOverflow(borrow)
            r[i] = d2
            borrow = (o1 || o2) ? 1 : 0
        }
        return r
    }

    private static func isLess(_ a: [UInt64], _ b: [UInt64]) -> Bool {
        for i in a.indices.reversed() where a[i] != b[i] { return a[i] < b[i] }
        return false
    }
}
