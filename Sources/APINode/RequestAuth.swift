import Foundation
import GonkaCore
import Synchronization

/// The headers of a signed inference request (PROTOCOL §6.1) and of its forwarded form (§6.2).
public enum GonkaHeader {
    public static let address = "X-Gonka-Address"
    public static let timestamp = "X-Gonka-Timestamp"
    public static let transferAgent = "X-Gonka-Transfer-Agent"
    public static let publicKey = "X-Gonka-Public-Key"
    public static let executor = "X-Gonka-Executor"
    public static let attempt = "X-Gonka-Attempt"
    public static let taSignature = "X-Gonka-TA-Signature"
    public static let taPublicKey = "X-Gonka-TA-Public-Key"
    public static let inferenceID = "X-Gonka-Inference-Id"
    public static let payloadSignature = "X-Gonka-Payload-Signature"
}

/// A developer's request as its headers state it, parsed but not yet verified.
public struct SignedRequest: Sendable, Hashable {
    public let requester: Address
    public let timestamp: Int64
    public let transferAgent: Address
    public let signature: [UInt8]
    /// The key sent with the request (`X-Gonka-Public-Key`), checked to hash to `requester`.
    public let publicKey: PublicKey?
    public let bodyHash: Hash

    public var inferenceID: String { InferenceRequestSigning.inferenceID(developerSignature: signature) }

    /// Parses the §6.1 headers (`header(name)` returns a header's value). Missing or malformed: 401.
    public init(body: [UInt8], header: (String) -> String?) throws(APIError) {
        let (signature, requester, timestamp) = try Self.signer(
            header: header, missingAuthorization: "Missing Authorization header (expected 'Gonka <base64 signature>').")
        guard let taText = header(GonkaHeader.transferAgent), let ta = try? Address(taText) else {
            throw .unauthorized("Missing or invalid \(GonkaHeader.transferAgent) header.")
        }
        var key: PublicKey?
        if let keyText = header(GonkaHeader.publicKey) {
            key = try Self.parseKey(keyText, for: requester, header: GonkaHeader.publicKey)
        }
        self.requester = requester
        self.timestamp = timestamp
        self.transferAgent = ta
        self.signature = Array(signature)
        self.publicKey = key
        self.bodyHash = Hash.sha256(body)
    }

    /// The signer's part of any Gonka-signed request: `Authorization: Gonka <base64 signature>`,
    /// `X-Gonka-Address` and `X-Gonka-Timestamp` (Unix nanoseconds). Missing or malformed: 401,
    /// `missingAuthorization` when there is no Authorization header at all.
    static func signer(
        header: (String) -> String?, missingAuthorization: String
    ) throws(APIError) -> (signature: Data, requester: Address, timestamp: Int64) {
        guard let auth = header("Authorization") else { throw .unauthorized(missingAuthorization) }
        let parts = auth.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0] == "Gonka", let signature = Data(base64Encoded: String(parts[1])),
            signature.count == 64
        else { throw .unauthorized("The Authorization header must be 'Gonka <base64 Ed25519 signature>'.") }
        guard let addressText = header(GonkaHeader.address), let requester = try? Address(addressText) else {
            throw .unauthorized("Missing or invalid \(GonkaHeader.address) header.")
        }
        guard let stampText = header(GonkaHeader.timestamp), let timestamp = Int64(stampText) else {
            throw .unauthorized("Missing or invalid \(GonkaHeader.timestamp) header (Unix nanoseconds).")
        }
        return (signature, requester, timestamp)
    }

    /// A key in hex or base64 that must hash to `address`.
    static func parseKey(_ text: String, for address: Address, header: String) throws(APIError) -> PublicKey {
        let bytes = Hex.decode(text.lowercased()) ?? Data(base64Encoded: text).map { Array($0) }
        guard let bytes, let key = try? PublicKey(bytes: bytes) else {
            throw .unauthorized("\(header) must be a 32-byte Ed25519 key in hex or base64.")
        }
        guard key.address == address else {
            throw .unauthorized("\(header) does not belong to \(address).")
        }
        return key
    }

    /// Checks the developer's signature with `key`.
    public func verify(with key: PublicKey, chainID: String) throws(APIError) {
        let bytes = InferenceRequestSigning.developerSignBytes(
            chainID: chainID, bodyHash: bodyHash, timestamp: timestamp, transferAgent: transferAgent)
        guard key.isValidSignature(signature, for: bytes) else {
            throw .unauthorized("The request signature does not verify for \(requester).")
        }
    }

    /// The headers a client sends: signs `body` with `key` for `transferAgent` at `timestamp`.
    public static func headers(
        body: [UInt8], key: SigningKey, transferAgent: Address, chainID: String, timestamp: Int64,
        includePublicKey: Bool = true
    ) -> [(String, String)] {
        let bytes = InferenceRequestSigning.developerSignBytes(
            chainID: chainID, bodyHash: Hash.sha256(body), timestamp: timestamp, transferAgent: transferAgent)
        var out: [(String, String)] = [
            (GonkaHeader.address, key.publicKey.address.description),
            (GonkaHeader.timestamp, "\(timestamp)"),
            (GonkaHeader.transferAgent, transferAgent.description),
            ("Authorization", "Gonka " + Data(key.signature(for: bytes)).base64EncodedString()),
        ]
        if includePublicKey { out.append((GonkaHeader.publicKey, key.publicKey.hex)) }
        return out
    }
}

/// A validator's signed request for a payload (PROTOCOL §6.3: payloads are served to validators):
/// `X-Gonka-Address` (a registered participant), `X-Gonka-Timestamp` (Unix ns, within the freshness
/// window), optional `X-Gonka-Public-Key`, and `Authorization: Gonka <base64 Ed25519 signature>`
/// over ``signBytes(chainID:inferenceID:timestamp:executor:)``. Naming the executor keeps a signed
/// request from being replayed to another node.
public enum PayloadRequestSigning {
    /// `SignBytes(.payloadRequest, chain_id, inference_id ‖ 0x00 ‖ decimal timestamp ‖ 0x00 ‖ executor bech32)`.
    public static func signBytes(chainID: String, inferenceID: String, timestamp: Int64, executor: Address) -> [UInt8] {
        var bytes = Array(inferenceID.utf8)
        bytes.append(0)
        bytes += Array("\(timestamp)".utf8)
        bytes.append(0)
        bytes += Array(executor.description.utf8)
        return SignBytes.make(.payloadRequest, chainID: chainID, bytes)
    }

    /// The headers a validator sends to fetch `inferenceID`'s payload from `executor`.
    public static func headers(
        inferenceID: String, key: SigningKey, executor: Address, chainID: String, timestamp: Int64,
        includePublicKey: Bool = true
    ) -> [(String, String)] {
        let bytes = signBytes(chainID: chainID, inferenceID: inferenceID, timestamp: timestamp, executor: executor)
        var out: [(String, String)] = [
            (GonkaHeader.address, key.publicKey.address.description),
            (GonkaHeader.timestamp, "\(timestamp)"),
            ("Authorization", "Gonka " + Data(key.signature(for: bytes)).base64EncodedString()),
        ]
        if includePublicKey { out.append((GonkaHeader.publicKey, key.publicKey.hex)) }
        return out
    }
}

/// The API node's side of the request window of §6.1: the bounds and the rule are
/// ``RequestWindow``'s (GonkaCore), the one the ledger applies to `MsgStartInference`; here a
/// timestamp outside it is a 401 `stale` with a sentence for the client.
extension RequestWindow {
    /// `now` is the reference (Unix ns): the last block time, named in the error by `reference`.
    public func check(timestamp: Int64, now: Int64, reference: String = "the node's clock") throws(APIError) {
        switch place(timestamp, reference: now) {
        case .inside: return
        case .tooOld:
            throw .stale(
                "The request timestamp is more than \(Self.seconds(maxAgeNanoseconds)) older than \(reference).")
        case .tooFarAhead:
            throw .stale(
                "The request timestamp is more than \(Self.seconds(maxFutureNanoseconds)) ahead of \(reference).")
        }
    }

    private static func seconds(_ ns: Int64) -> String {
        ns % 1_000_000_000 == 0 ? "\(ns / 1_000_000_000) s" : "\(Double(ns) / 1e9) s"
    }
}

/// Ids seen within the freshness window (replay protection). Bounded: entries expire with the
/// window (a request older than that is refused as stale anyway), and past `capacityBytes`
/// (``cost(of:)`` per entry, `[memory] replay_cache_mb`) the oldest go first.
public final class ReplayCache: Sendable {
    private struct State {
        var expiry: [String: Int64] = [:]
        var order: [(String, Int64)] = []
        var head = 0
        /// ``cost(of:)`` of the entries of `order` from `head` on.
        var bytes = 0
    }
    private let state = Mutex(State())
    /// The most the entries may take, in bytes.
    public let capacityBytes: Int

    public init(capacityBytes: Int = 64 << 20) { self.capacityBytes = capacityBytes }

    /// What an entry takes: the id's bytes, its string storage, its dictionary slot and its place
    /// in the expiry order (~112 bytes of bookkeeping).
    static func cost(of id: String) -> Int { id.utf8.count + 112 }

    /// Records `id` until `expires` (ns); false when it was already there and not expired.
    public func insert(_ id: String, expires: Int64, now: Int64) -> Bool {
        let cost = Self.cost(of: id)
        return state.withLock { s in
            while s.head < s.order.count, s.order[s.head].1 <= now || s.bytes + cost > capacityBytes {
                let (old, at) = s.order[s.head]
                if s.expiry[old] == at { s.expiry[old] = nil }
                s.bytes -= Self.cost(of: old)
                s.head += 1
            }
            if s.head > 4096, s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            if let until = s.expiry[id], until > now { return false }
            s.expiry[id] = expires
            s.order.append((id, expires))
            s.bytes += cost
            return true
        }
    }

    public var count: Int { state.withLock { $0.expiry.count } }

    /// What the entries take now, in bytes (at most ``capacityBytes``).
    public var bytes: Int { state.withLock { $0.bytes } }
}

/// Unix time in nanoseconds (the edge's clock; the ledger uses block time).
func unixNanoseconds() -> Int64 {
    let now = Date().timeIntervalSince1970
    return Int64(now * 1_000_000_000)
}
