import Foundation
import GonkaCore

/// Ed25519 keys on disk under `HOME/keys/NAME.json`: the directory is created 0700 and every key
/// file is written 0600 (atomically, via a temporary file and rename). The private seed is only
/// ever read back by `load`; nothing here prints it.
public struct KeyStore: Sendable {
    public let directory: URL

    /// A key file's contents.
    public struct Entry: Codable, Sendable, Hashable {
        public var name: String
        public var type: String
        public var address: Address
        public var publicKey: String
        /// Hex of the 32-byte Ed25519 seed.
        var privateKey: String

        enum CodingKeys: String, CodingKey {
            case name, type, address
            case publicKey = "public_key"
            case privateKey = "private_key"
        }
    }

    public init(home: URL) {
        directory = home.appendingPathComponent("keys", isDirectory: true)
    }

    /// Creates a new key named `name` (or stores the given one); refuses to overwrite.
    @discardableResult
    public func add(name: String, key: SigningKey = SigningKey()) throws(KeyStoreError) -> Entry {
        try Self.validate(name: name)
        let url = fileURL(name)
        guard !FileManager.default.fileExists(atPath: url.path) else { throw .exists(name) }
        let entry = Entry(
            name: name, type: "ed25519", address: key.publicKey.address, publicKey: key.publicKey.hex,
            privateKey: Hex.encode(key.seed))
        try write(entry, to: url)
        return entry
    }

    /// The entry for `name` (public parts; the seed stays inside).
    public func entry(_ name: String) throws(KeyStoreError) -> Entry {
        try Self.validate(name: name)
        let url = fileURL(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw .notFound(name) }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw .unreadable(path: url.path, reason: error.localizedDescription)
        }
        do {
            return try JSONDecoder().decode(Entry.self, from: data)
        } catch {
            throw .corrupt(path: url.path, reason: "not a key file (\(error))")
        }
    }

    /// The signing key named `name`, checked against its recorded public key.
    public func load(_ name: String) throws(KeyStoreError) -> SigningKey {
        let entry = try entry(name)
        guard let seed = Hex.decode(entry.privateKey), let key = try? SigningKey(seed: seed) else {
            throw .corrupt(path: fileURL(name).path, reason: "private key is not 32 bytes of hex")
        }
        guard key.publicKey.hex == entry.publicKey.lowercased() else {
            throw .corrupt(path: fileURL(name).path, reason: "private key does not match the public key")
        }
        return key
    }

    /// Hex of the private seed, for an explicit export only.
    public func exportPrivateKeyHex(_ name: String) throws(KeyStoreError) -> String {
        Hex.encode(try load(name).seed)
    }

    /// Every key, sorted by name. Unreadable files are reported, not skipped silently.
    public func list() throws(KeyStoreError) -> [Entry] {
        guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .unreadable(path: directory.path, reason: error.localizedDescription)
        }
        var entries: [Entry] = []
        for file in names.sorted() where file.hasSuffix(".json") {
            entries.append(try entry(String(file.dropLast(5))))
        }
        return entries
    }

    public func delete(_ name: String) throws(KeyStoreError) {
        try Self.validate(name: name)
        let url = fileURL(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw .notFound(name) }
        do {
            try FileManager.default.removeItem(at: url)
        } catch {
            throw .unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    public func fileURL(_ name: String) -> URL {
        directory.appendingPathComponent("\(name).json")
    }

    /// Names are 1–64 of `A-Z a-z 0-9 . _ -`, not starting with a dot: never a path.
    public static func validate(name: String) throws(KeyStoreError) {
        let ok =
            !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0))
            }
        guard ok else { throw .invalidName(name) }
    }

    private func write(_ entry: Entry, to url: URL) throws(KeyStoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try SecureFile.write(try encoder.encode(entry), to: url)
        } catch {
            throw .unwritable(path: url.path, reason: "\(error)")
        }
    }
}

/// Why a key operation failed.
public enum KeyStoreError: Error, Equatable, CustomStringConvertible {
    case invalidName(String)
    case exists(String)
    case notFound(String)
    case corrupt(path: String, reason: String)
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidName(let n): "invalid key name \"\(n)\": use 1–64 letters, digits, '.', '_' or '-'"
        case .exists(let n): "a key named \"\(n)\" already exists"
        case .notFound(let n): "no key named \"\(n)\""
        case .corrupt(let p, let r): "key file \(p) is damaged: \(r)"
        case .unreadable(let p, let r): "cannot read \(p): \(r)"
        case .unwritable(let p, let r): "cannot write \(p): \(r)"
        }
    }
}

/// Writing secrets: parent directory 0700, file 0600 from the first byte (created with that mode,
/// never chmod-ed after the fact), replaced atomically by rename.
public enum SecureFile {
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp")
        _ = unlink(temporary.path)
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { failure = errno; break }
                offset += n
            }
        }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        close(fd)
        guard failure == 0, rename(temporary.path, url.path) == 0 else {
            let code = failure != 0 ? failure : errno
            _ = unlink(temporary.path)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
    }
}
