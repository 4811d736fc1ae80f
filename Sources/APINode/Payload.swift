import Foundation
import GonkaCore

/// The canonical inference payload of PROTOCOL §6.3 (`docs/API.md` § Payload): what the executor
/// ran and produced, in one fixed binary encoding whose SHA-256 is the `response_commitment`.
///
/// Encoding (all integers big-endian; `str` = u32 length ‖ UTF-8 bytes; `bytes` likewise):
/// `"gonka-payload-v1" ‖ 0x00 ‖ str inference_id ‖ str executor ‖ str model ‖ bytes request ‖
/// u64 prompt_tokens ‖ u64 completion_tokens ‖ str finish_reason ‖ u32 n ‖
/// n × (u32 token ‖ u32 float32-bits(logprob) ‖ u8 k ‖ k × (u32 token ‖ u32 float32-bits(logprob)))`.
///
/// A request with `n` > 1 choices is encoded as `"gonka-payload-v2" ‖ 0x00` and the same fields up
/// to `completion_tokens` (the sum over the choices), then `u32 c` and c × (`str finish_reason ‖
/// u32 n ‖ n × token` as above), the choices in index order. One choice is always v1, byte for byte.
public struct InferencePayload: Sendable, Hashable {
    public struct Alternative: Sendable, Hashable {
        public var token: UInt32
        public var logprob: Float
        public init(token: UInt32, logprob: Float) {
            self.token = token
            self.logprob = logprob
        }
    }

    public struct Token: Sendable, Hashable {
        public var token: UInt32
        public var logprob: Float
        public var top: [Alternative]
        public init(token: UInt32, logprob: Float, top: [Alternative]) {
            self.token = token
            self.logprob = logprob
            self.top = top
        }
    }

    public var inferenceID: String
    public var executor: String
    public var model: String
    /// The request body exactly as the executor sent it to the ML node (after the rewrite).
    public var request: [UInt8]
    public var promptTokens: UInt64
    public var completionTokens: UInt64
    /// One of the request's `n` choices: why it ended and its positions.
    public struct Choice: Sendable, Hashable {
        public var finishReason: String
        public var tokens: [Token]

        public init(finishReason: String, tokens: [Token]) {
            self.finishReason = finishReason
            self.tokens = tokens
        }
    }

    /// The choices in index order (one for `n` = 1).
    public var choices: [Choice]
    /// The first choice's finish reason.
    public var finishReason: String { choices.first?.finishReason ?? "" }
    /// Every choice's positions, in choice order (what `completion_tokens` counts).
    public var tokens: [Token] { choices.flatMap(\.tokens) }

    public init(
        inferenceID: String, executor: String, model: String, request: [UInt8], promptTokens: UInt64,
        completionTokens: UInt64, finishReason: String, tokens: [Token]
    ) {
        self.init(
            inferenceID: inferenceID, executor: executor, model: model, request: request, promptTokens: promptTokens,
            completionTokens: completionTokens, choices: [Choice(finishReason: finishReason, tokens: tokens)])
    }

    /// A payload of several choices (`n` > 1; one choice is the v1 payload).
    public init(
        inferenceID: String, executor: String, model: String, request: [UInt8], promptTokens: UInt64,
        completionTokens: UInt64, choices: [Choice]
    ) {
        self.inferenceID = inferenceID
        self.executor = executor
        self.model = model
        self.request = request
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.choices = choices.isEmpty ? [Choice(finishReason: "", tokens: [])] : choices
    }

    static let magic = Array("gonka-payload-v1".utf8) + [0]
    static let magicChoices = Array("gonka-payload-v2".utf8) + [0]

    /// The canonical bytes.
    public var encoded: [UInt8] {
        var out = choices.count == 1 ? Self.magic : Self.magicChoices
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) } }
        func bytes(_ b: [UInt8]) {
            u32(UInt32(b.count))
            out.append(contentsOf: b)
        }
        func str(_ s: String) { bytes(Array(s.utf8)) }
        str(inferenceID)
        str(executor)
        str(model)
        bytes(request)
        u64(promptTokens)
        u64(completionTokens)
        func choice(_ c: Choice) {
            str(c.finishReason)
            u32(UInt32(c.tokens.count))
            for token in c.tokens {
                u32(token.token)
                u32(token.logprob.bitPattern)
                out.append(UInt8(min(token.top.count, 255)))
                for alt in token.top.prefix(255) {
                    u32(alt.token)
                    u32(alt.logprob.bitPattern)
                }
            }
        }
        if choices.count != 1 { u32(UInt32(choices.count)) }
        for c in choices { choice(c) }
        return out
    }

    /// `response_commitment`.
    public var commitment: Hash { Hash.sha256(encoded) }

    /// Decodes canonical bytes; nil when they are not a well-formed payload.
    public init?(decoding data: [UInt8]) {
        var reader = Reader(data: data)
        guard let head = reader.take(Self.magic.count), head == Self.magic || head == Self.magicChoices,
            let id = reader.string(), let executor = reader.string(), let model = reader.string(),
            let request = reader.bytes(), let prompt = reader.u64(), let completion = reader.u64()
        else { return nil }
        var count: UInt32 = 1
        if head == Self.magicChoices {
            // v2 is for several choices only: one choice has exactly one encoding, v1.
            guard let c = reader.u32(), c >= 2, c <= 8 else { return nil }
            count = c
        }
        var choices: [Choice] = []
        for _ in 0..<count {
            guard let finish = reader.string(), let n = reader.u32(), Int(n) <= data.count else { return nil }
            var tokens: [Token] = []
            for _ in 0..<n {
                guard let token = reader.u32(), let bits = reader.u32(), let k = reader.take(1)?.first else {
                    return nil
                }
                var top: [Alternative] = []
                for _ in 0..<k {
                    guard let alt = reader.u32(), let altBits = reader.u32() else { return nil }
                    top.append(Alternative(token: alt, logprob: Float(bitPattern: altBits)))
                }
                tokens.append(Token(token: token, logprob: Float(bitPattern: bits), top: top))
            }
            choices.append(Choice(finishReason: finish, tokens: tokens))
        }
        guard reader.atEnd else { return nil }
        self.init(
            inferenceID: id, executor: executor, model: model, request: request, promptTokens: prompt,
            completionTokens: completion, choices: choices)
    }

    private struct Reader {
        let data: [UInt8]
        var offset = 0
        var atEnd: Bool { offset == data.count }

        mutating func take(_ n: Int) -> [UInt8]? {
            guard n >= 0, data.count - offset >= n else { return nil }
            defer { offset += n }
            return Array(data[offset..<offset + n])
        }
        mutating func u32() -> UInt32? { take(4).map { $0.reduce(0) { $0 << 8 | UInt32($1) } } }
        mutating func u64() -> UInt64? { take(8).map { $0.reduce(0) { $0 << 8 | UInt64($1) } } }
        mutating func bytes() -> [UInt8]? { u32().flatMap { take(Int($0)) } }
        mutating func string() -> String? { bytes().flatMap { String(validating: $0, as: UTF8.self) } }
    }
}

/// Payloads on disk under `HOME/data/payloads/`, one file per inference id (the canonical bytes),
/// kept while the chain holds the inference's record (``PayloadRetention``).
public struct PayloadStore: Sendable {
    public let directory: URL
    public let retention: Duration

    public init(directory: URL, retention: Duration) throws {
        self.directory = directory
        self.retention = retention
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    static func isID(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    func file(_ id: String) -> URL { directory.appendingPathComponent(id + ".payload") }

    public func save(_ payload: InferencePayload) throws {
        guard Self.isID(payload.inferenceID) else { throw APIError.invalidRequest("bad inference id") }
        try Data(payload.encoded).write(to: file(payload.inferenceID), options: .atomic)
    }

    /// The canonical bytes of `id`, or nil when none is stored (or the id is not 64 hex digits).
    public func load(_ id: String) -> [UInt8]? {
        guard Self.isID(id), let data = try? Data(contentsOf: file(id)) else { return nil }
        return Array(data)
    }

    /// The stored payloads: each id with its file's modification time (when it was written).
    public func files() -> [(id: String, modified: Date)] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory.path) else { return [] }
        return names.compactMap { name in
            guard name.hasSuffix(".payload") else { return nil }
            let id = String(name.dropLast(".payload".count))
            guard Self.isID(id),
                let modified = (try? fm.attributesOfItem(atPath: file(id).path))?[.modificationDate] as? Date
            else { return nil }
            return (id, modified)
        }
    }

    /// Deletes the payload of `id`; false when there was none (or it could not be deleted).
    @discardableResult
    public func delete(_ id: String) -> Bool {
        guard Self.isID(id) else { return false }
        return (try? FileManager.default.removeItem(at: file(id))) != nil
    }
}
