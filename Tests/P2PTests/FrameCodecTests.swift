import Crypto
import Testing

@testable import P2P

@Suite struct FrameCodecTests {
    /// Two codecs facing each other, as after a handshake.
    private func pair(max: Int = 1 << 20) -> (FrameCodec, FrameCodec) {
        let forward = SymmetricKey(size: .bits256)
        let backward = SymmetricKey(size: .bits256)
        return (
            FrameCodec(sendKey: forward, receiveKey: backward, maxFrameBytes: max),
            FrameCodec(sendKey: backward, receiveKey: forward, maxFrameBytes: max)
        )
    }

    private func body(_ frame: [UInt8]) -> [UInt8] { Array(frame.dropFirst(FrameCodec.lengthPrefixBytes)) }

    @Test(arguments: P2PChannel.allCases)
    func roundTripOnEveryChannel(channel: P2PChannel) throws {
        var (a, b) = pair()
        for payload in [[], [1, 2, 3], [UInt8](repeating: 7, count: 70_000)] as [[UInt8]] {
            let frame = try a.seal(payload, on: channel)
            let length = Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3])
            #expect(length == frame.count - 4)
            #expect(length == FrameCodec.sealedSize(payloadBytes: payload.count))
            let opened = try b.open(body(frame))
            #expect(opened.channel == channel)
            #expect(opened.payload == payload)
        }
        // And the other direction, with its own counter.
        let back = try b.seal([9], on: channel)
        #expect(try a.open(body(back)).payload == [9])
    }

    @Test func sameMessageSealsDifferentlyEachTime() throws {
        var (a, _) = pair()
        let first = try a.seal([1, 2, 3], on: .consensus)
        let second = try a.seal([1, 2, 3], on: .consensus)
        #expect(first != second)
    }

    @Test func replayedFrameFailsToOpen() throws {
        var (a, b) = pair()
        let frame = try a.seal([1, 2, 3], on: .mempool)
        _ = try b.open(body(frame))
        #expect(throws: P2PError.decryptionFailed) { try b.open(body(frame)) }
    }

    @Test func reorderedFramesFailToOpen() throws {
        var (a, b) = pair()
        _ = try a.seal([1], on: .mempool)
        let second = try a.seal([2], on: .mempool)
        #expect(throws: P2PError.decryptionFailed) { try b.open(body(second)) }
    }

    @Test func tamperedOrForeignFramesFailToOpen() throws {
        var (a, b) = pair()
        var frame = body(try a.seal([1, 2, 3, 4], on: .blockSync))
        frame[2] ^= 1
        #expect(throws: P2PError.decryptionFailed) { try b.open(frame) }
        var (_, stranger) = pair()
        var (c, _) = pair()
        #expect(throws: P2PError.decryptionFailed) { try stranger.open(body(try c.seal([1], on: .evidence))) }
    }

    @Test func unknownChannelIsRefused() throws {
        var (a, b) = pair()
        let frame = try a.seal(plaintext: [99, 1, 2])
        #expect(throws: P2PError.unknownChannel(99)) { try b.open(body(frame)) }
    }

    @Test func frameSizeLimits() throws {
        var (a, b) = pair(max: 100)
        #expect(throws: P2PError.frameTooLarge(size: 117, max: 100)) {
            try a.seal([UInt8](repeating: 0, count: 100), on: .consensus)
        }
        #expect(a.sendCounter == 0)
        _ = try a.seal([UInt8](repeating: 0, count: 83), on: .consensus)
        #expect(throws: P2PError.frameTooLarge(size: 101, max: 100)) { try b.checkLength(101) }
        #expect(throws: P2PError.frameTooSmall(16)) { try b.checkLength(16) }
        #expect(throws: P2PError.frameTooSmall(3)) { try b.open([1, 2, 3]) }
    }
}
