import Crypto

// `Data` (what ChaChaPoly returns) lives in Foundation (FoundationEssentials on Linux).
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Seals and opens the frames of one established connection. Pure value.
///
/// Frame = `u32be length ‖ ChaCha20-Poly1305(channel byte ‖ payload)` (ciphertext then 16-byte tag),
/// where `length` counts the sealed part and is at most `maxFrameBytes`. The nonce is a 96-bit
/// little-endian counter per direction, never sent: both ends count frames, so a replayed, dropped
/// or reordered frame fails to authenticate and the connection is dropped.
public struct FrameCodec: Sendable {
    public static let lengthPrefixBytes = 4
    public static let tagBytes = 16
    /// Smallest sealed part: the channel byte plus the tag.
    public static let minSealedBytes = 1 + tagBytes

    private let sendKey: SymmetricKey
    private let receiveKey: SymmetricKey
    public let maxFrameBytes: Int
    public private(set) var sendCounter: UInt64 = 0
    public private(set) var receiveCounter: UInt64 = 0

    public init(sendKey: SymmetricKey, receiveKey: SymmetricKey, maxFrameBytes: Int) {
        self.sendKey = sendKey
        self.receiveKey = receiveKey
        self.maxFrameBytes = maxFrameBytes
    }

    /// The sealed size of a payload, to refuse oversized messages before queueing them.
    public static func sealedSize(payloadBytes: Int) -> Int { 1 + payloadBytes + tagBytes }

    /// A whole frame, length prefix included.
    public mutating func seal(_ payload: some Collection<UInt8>, on channel: P2PChannel) throws(P2PError) -> [UInt8] {
        let size = Self.sealedSize(payloadBytes: payload.count)
        guard size <= maxFrameBytes else { throw .frameTooLarge(size: size, max: maxFrameBytes) }
        var plaintext = [UInt8]()
        plaintext.reserveCapacity(1 + payload.count)
        plaintext.append(channel.rawValue)
        plaintext += payload
        return try seal(plaintext: plaintext)
    }

    /// Seals raw plaintext (channel byte first) into a whole frame; internal so tests can forge
    /// frames with an unknown channel byte.
    mutating func seal(plaintext: [UInt8]) throws(P2PError) -> [UInt8] {
        let size = plaintext.count + Self.tagBytes
        guard size <= maxFrameBytes else { throw .frameTooLarge(size: size, max: maxFrameBytes) }
        let box: ChaChaPoly.SealedBox
        do {
            box = try ChaChaPoly.seal(plaintext, using: sendKey, nonce: Self.nonce(sendCounter))
        } catch {
            // Only a malformed key or nonce makes sealing fail; both are built here.
            throw .decryptionFailed
        }
        sendCounter += 1
        var frame = [UInt8]()
        frame.reserveCapacity(Self.lengthPrefixBytes + size)
        let length = UInt32(size)
        frame += [
            UInt8(length >> 24), UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8),
            UInt8(truncatingIfNeeded: length),
        ]
        frame += box.ciphertext
        frame += box.tag
        return frame
    }

    /// Checks a frame's announced sealed length before its body is buffered.
    public func checkLength(_ length: Int) throws(P2PError) {
        guard length <= maxFrameBytes else { throw .frameTooLarge(size: length, max: maxFrameBytes) }
        guard length >= Self.minSealedBytes else { throw .frameTooSmall(length) }
    }

    /// Opens the sealed part of the next frame (without its length prefix).
    public mutating func open(_ sealed: [UInt8]) throws(P2PError) -> (channel: P2PChannel, payload: [UInt8]) {
        try checkLength(sealed.count)
        let plaintext: Data
        do {
            let box = try ChaChaPoly.SealedBox(
                nonce: Self.nonce(receiveCounter), ciphertext: sealed[..<(sealed.count - Self.tagBytes)],
                tag: sealed[(sealed.count - Self.tagBytes)...])
            plaintext = try ChaChaPoly.open(box, using: receiveKey)
        } catch {
            throw .decryptionFailed
        }
        receiveCounter += 1
        guard let byte = plaintext.first else { throw .frameTooSmall(sealed.count) }
        guard let channel = P2PChannel(rawValue: byte) else { throw .unknownChannel(byte) }
        return (channel, Array(plaintext.dropFirst()))
    }

    private static func nonce(_ counter: UInt64) throws -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(i))) }
        return try ChaChaPoly.Nonce(data: bytes)
    }
}
