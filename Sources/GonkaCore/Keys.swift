import Crypto
import Foundation

// `DataProtocol` lives in Foundation (FoundationEssentials on Linux); MemberImportVisibility needs it named.
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An Ed25519 public key (32 bytes): accounts, operator keys, consensus keys and node identities
/// all use these (PROTOCOL §2).
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    private let key: Curve25519.Signing.PublicKey

    public static let byteCount = 32

    /// Wraps 32 raw bytes; throws if they are not a valid Ed25519 point encoding of that size
    /// (RFC 8032 §5.1.3: canonical `y`, a solution `x`, no negative zero; checked here, the same on
    /// every platform, since the Linux backend accepts any 32 bytes).
    public init(bytes: some Collection<UInt8>) throws(KeyError) {
        try self.init(bytes: bytes, checkingPoint: true)
    }

    /// Wraps bytes that already passed `init(bytes:)` once, such as a key the ledger stored on an
    /// account's first transaction: the curve-point check (~0.1 ms in pure Swift) is skipped, the
    /// length is still checked. Never use it for bytes that have not been validated before.
    public init(previouslyValidated bytes: some Collection<UInt8>) throws(KeyError) {
        try self.init(bytes: bytes, checkingPoint: false)
    }

    private init(bytes: some Collection<UInt8>, checkingPoint: Bool) throws(KeyError) {
        guard bytes.count == Self.byteCount else { throw .wrongPublicKeyLength(bytes.count) }
        let raw = Array(bytes)
        guard !checkingPoint || Ed25519Point.isValidEncoding(raw) else { throw .invalidPublicKey }
        do {
            key = try Curve25519.Signing.PublicKey(rawRepresentation: raw)
        } catch {
            throw .invalidPublicKey
        }
        self.bytes = raw
    }

    init(key: Curve25519.Signing.PublicKey) {
        self.key = key
        self.bytes = Array(key.rawRepresentation)
    }

    /// Whether `signature` is this key's Ed25519 signature of exactly `message`.
    public func isValidSignature(_ signature: some DataProtocol, for message: some DataProtocol) -> Bool {
        signature.count == 64 && key.isValidSignature(signature, for: message)
    }

    /// The account address of this key: bech32 of SHA-256(pubkey)[0..<20].
    public var address: Address { Address(publicKey: self) }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { ByteKey.hash(bytes, into: &hasher) }
}

/// An Ed25519 private key. Its bytes are only reachable through `seed`, and nothing here prints them.
public struct SigningKey: Sendable, CustomStringConvertible {
    private let key: Curve25519.Signing.PrivateKey

    /// A fresh key from the system's secure random source.
    public init() {
        key = Curve25519.Signing.PrivateKey()
    }

    /// The key whose RFC 8032 32-byte seed is `seed`.
    public init(seed: some Collection<UInt8>) throws(KeyError) {
        guard seed.count == 32 else { throw .wrongSeedLength(seed.count) }
        do {
            key = try Curve25519.Signing.PrivateKey(rawRepresentation: Array(seed))
        } catch {
            throw .wrongSeedLength(seed.count)
        }
    }

    /// The 32-byte secret seed. Handle with care: write it only to files with mode 0600.
    public var seed: [UInt8] { Array(key.rawRepresentation) }

    public var publicKey: PublicKey { PublicKey(key: key.publicKey) }

    /// The Ed25519 signature (64 bytes) of `message`. Deterministic (RFC 8032) on Linux.
    public func signature(for message: some DataProtocol) -> [UInt8] {
        do {
            return Array(try key.signature(for: message))
        } catch {
            // BoringSSL's Ed25519 signing has no failure path for a valid key; keep the type honest.
            preconditionFailure("Ed25519 signing failed: \(error)")
        }
    }

    public var description: String { "SigningKey(\(publicKey.address))" }
}

/// Why a key could not be used.
public enum KeyError: Error, Equatable, CustomStringConvertible {
    case wrongPublicKeyLength(Int)
    case invalidPublicKey
    case wrongSeedLength(Int)

    public var description: String {
        switch self {
        case .wrongPublicKeyLength(let n): "public key must be 32 bytes, got \(n)"
        case .invalidPublicKey: "public key is not a valid Ed25519 point"
        case .wrongSeedLength(let n): "private key seed must be 32 bytes, got \(n)"
        }
    }
}
