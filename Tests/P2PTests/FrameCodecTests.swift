import Crypto
import Testing

@testable import P2P

@Suite struct FrameCodecTests {
    @Test func roundTrip() throws {
        let key = SymmetricKey(size: .bits256)
        var sender = FrameCodec(sendKey: key, receiveKey: key, maxFrameBytes: 1024)
        var receiver = FrameCodec(sendKey: key, receiveKey: key, maxFrameBytes: 1024)
        let frame = try sender.seal([1, 2, 3], on: .mempool)
        let opened = try receiver.open(Array(frame.dropFirst(4)))
        #expect(opened.channel == .mempool)
        #expect(opened.payload == [1, 2, 3])
    }
}
