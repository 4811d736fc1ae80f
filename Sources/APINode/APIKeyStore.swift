import Foundation
import GonkaCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Gateway API keys (PROTOCOL §6.1 [improved]): `Authorization: Bearer KEY` at this API node, which
/// then signs for the key's account, up to a spending limit. The file holds only SHA-256 hashes of
/// the keys and is written 0600.
public final class APIKeyStore: Sendable {
    public struct Entry: Codable, Sendable, Hashable {
        public var id: String
        /// hex SHA-256 of the key.
        public var hash: String
        /// Name of the account key file under `HOME/keys/` that signs for it.
        public var account: String
        public var address: String
        /// ngonka this key may commit in escrows in total; 0: no limit.
        public var limit: UInt64
        public var spent: UInt64
        public var revoked: Bool
    }

    private struct File: Codable { var keys: [Entry] }

    public let file: URL
    private let lock = Mutex(())

    public init(file: URL) { self.file = file }

    public func list() throws -> [Entry] {
        try lock.withLock { _ in try read() }
    }

    /// Creates a key for `account` (its key file name and address); returns the secret, shown once.
    public func create(account: String, address: Address, limit: UInt64) throws -> (entry: Entry, secret: String) {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &random) }
        let secret = "gk-" + Hex.encode(bytes)
        let entry = Entry(
            id: "key" + Hex.encode(bytes.prefix(4)), hash: Hash.sha256(secret).hex, account: account,
            address: address.description, limit: limit, spent: 0, revoked: false)
        try lock.withLock { _ in
            var keys = try read()
            keys.append(entry)
            try write(keys)
        }
        return (entry, secret)
    }

    public func revoke(id: String) throws -> Bool {
        try lock.withLock { _ in
            var keys = try read()
            guard let i = keys.firstIndex(where: { $0.id == id }) else { return false }
            keys[i].revoked = true
            try write(keys)
            return true
        }
    }

    /// The live entry for a bearer `secret`, after charging `escrow` against its limit.
    func charge(secret: String, escrow: UInt64) throws(APIError) -> Entry {
        let hash = Hash.sha256(secret).hex
        do {
            return try lock.withLock { _ throws -> Entry in
                var keys = try read()
                guard let i = keys.firstIndex(where: { $0.hash == hash && !$0.revoked }) else {
                    throw APIError.unauthorized("Unknown or revoked API key.")
                }
                if keys[i].limit > 0, keys[i].spent + escrow > keys[i].limit {
                    throw APIError.spendingLimit(
                        "The API key's spending limit (\(keys[i].limit) ngonka) would be exceeded.")
                }
                keys[i].spent += escrow
                try write(keys)
                return keys[i]
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw .internalError("The API key file cannot be read: \(error)")
        }
    }

    /// Whether `secret` is a live key (no charge).
    func lookup(secret: String) -> Entry? {
        let hash = Hash.sha256(secret).hex
        return try? lock.withLock { _ in try read() }.first { $0.hash == hash && !$0.revoked }
    }

    private func read() throws -> [Entry] {
        guard FileManager.default.fileExists(atPath: file.path) else { return [] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: file)).keys
    }

    private func write(_ keys: [Entry]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(File(keys: keys))
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temp = file.appendingPathExtension("tmp")
        _ = FileManager.default.createFile(atPath: temp.path, contents: data, attributes: [.posixPermissions: 0o600])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: temp.path)
        guard rename(temp.path, file.path) == 0 else {
            throw APIError.internalError("cannot replace \(file.path) (errno \(errno))")
        }
    }
}
