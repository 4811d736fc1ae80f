import Foundation
import GonkaCore

/// The participant's secret epoch seeds (PROTOCOL §7.1): one 32-byte seed per epoch in
/// `HOME/data/seeds/{epoch}` (hex, 0600), the same files the PoC orchestrator writes when it
/// commits `SHA-256(seed)` at the sprint, so the seed the validator samples with is the one the
/// claim reveals. An epoch this node committed no seed for (epoch 0, or one it did not mine) gets
/// a fresh random seed, kept the same way; no commitment stands for it on chain.
struct ValidationSeeds: Sendable {
    let directory: URL

    /// The seed kept for `epoch`, or nil when there is none (never creates one: a claim reveals
    /// only the seed the node validated with).
    func existingSeed(epoch: UInt64) throws(ValidationSeedError) -> Hash? {
        let file = directory.appendingPathComponent(String(epoch))
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        guard let bytes = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            let hash = Hash(bytes: bytes)
        else { throw .corrupt(file.path) }
        return hash
    }

    func seed(epoch: UInt64) throws(ValidationSeedError) -> Hash {
        let file = directory.appendingPathComponent(String(epoch))
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            guard let bytes = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                let hash = Hash(bytes: bytes)
            else { throw .corrupt(file.path) }
            return hash
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        do {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .unwritable(directory.path, "\(error)")
        }
        // No race with the PoC orchestrator: it writes an epoch's seed at that epoch's sprint, before
        // the epoch begins, and the worker asks only for epochs that have begun.
        if !FileManager.default.createFile(
            atPath: file.path, contents: Data(Hex.encode(bytes).utf8), attributes: [.posixPermissions: 0o600])
        {
            throw .unwritable(file.path, "create failed")
        }
        guard let hash = Hash(bytes: bytes) else { throw .corrupt(file.path) }
        return hash
    }
}

enum ValidationSeedError: Error, Hashable, Sendable, CustomStringConvertible {
    case corrupt(String)
    case unwritable(String, String)

    var description: String {
        switch self {
        case .corrupt(let path): "the seed file \(path) is not 64 hex digits"
        case .unwritable(let path, let why): "cannot keep a seed at \(path): \(why)"
        }
    }
}
