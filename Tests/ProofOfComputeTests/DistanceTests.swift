import Foundation
import GonkaCore
import Testing

@testable import ProofOfCompute

@Suite struct PocDistanceTests {
    @Test func sameSeedSameDistanceOtherSeedsDiffer() throws {
        let a = try Shared.engine.distances(publicKeyHex: Seeds.pk, nonces: [0, 1, 2, 3])
        // A second engine built from scratch (other thread count) gives the same bits.
        let again = try PocEngine(blockHashHex: Seeds.h, config: .devnet, threads: 1)
        #expect(try again.distances(publicKeyHex: Seeds.pk.uppercased(), nonces: [0, 1, 2, 3]) == a)
        #expect(Set(a).count == 4)
        let otherKey = try Shared.engine.distances(publicKeyHex: Seeds.pk2, nonces: [0, 1, 2, 3])
        let otherBlock = try PocEngine(blockHashHex: Seeds.h2, config: .devnet, threads: 2)
            .distances(publicKeyHex: Seeds.pk, nonces: [0, 1, 2, 3])
        for i in 0..<4 {
            #expect(otherKey[i] != a[i])
            #expect(otherBlock[i] != a[i])
        }
        // Unit vectors in 2048 dimensions: distances cluster near √2.
        for d in a + otherKey + otherBlock { #expect(abs(d - 2.0.squareRoot()) < 0.1) }
    }

    @Test func referenceAndEngineAgreeOn200Nonces() throws {
        let nonces = (0..<200).map { UInt64($0) * 7 + 3 }
        let fast = try Shared.engine.distances(publicKeyHex: Seeds.pk, nonces: nonces)
        var worst = 0.0
        for (n, d) in zip(nonces, fast) {
            let reference = try Shared.reference.distance(publicKeyHex: Seeds.pk, nonce: n)
            worst = max(worst, abs(reference - d))
        }
        #expect(worst < 1e-5, "largest |reference − fast| = \(worst)")
        #expect(worst > 0, "Float32 and Double never agreeing to the last bit would be a surprise")
    }

    @Test func batchingDoesNotChangeDistances() throws {
        let nonces: [UInt64] = Array(100..<170)
        let together = try Shared.engine.distances(publicKeyHex: Seeds.pk, nonces: nonces)
        let one = try nonces.map { try Shared.engine.distances(publicKeyHex: Seeds.pk, nonces: [$0])[0] }
        // Bit for bit: rows are padded so every nonce takes the same kernel path in any batch.
        #expect(together == one)
    }

    @Test func badKeysAreRefused() throws {
        let engine = try Shared.engine
        let reference = try Shared.reference
        for bad in ["", "abc", String(repeating: "x", count: 64), String(repeating: "a", count: 66)] {
            #expect(throws: PocError.self) { _ = try engine.distances(publicKeyHex: bad, nonces: [1]) }
            #expect(throws: PocError.self) { _ = try reference.distance(publicKeyHex: bad, nonce: 1) }
        }
    }

    @Test func nanoRoundTrip() {
        for d in [0.0, 1e-9, 1.0, 1.390_041_234_5, 2.0.squareRoot(), 2.0] {
            let n = PocDistance.nano(d)
            #expect(n == UInt64((d * 1e9).rounded(.down)))
            #expect(abs(PocDistance.distance(fromNano: n) - d) <= 1e-9)
            #expect(PocDistance.nano(PocDistance.distance(fromNano: n)) == n)
        }
        for n: UInt64 in [0, 1, 999_999_999, 1_414_213_562, 1_401_356_466, 4_000_000_000] {
            #expect(PocDistance.nano(PocDistance.distance(fromNano: n)) == n)
        }
        #expect(PocDistance.nano(-1) == 0)
        #expect(PocDistance.nano(.nan) == 0)
        #expect(PocDistance.nano(.infinity) == .max)
    }
}
