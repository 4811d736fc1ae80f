/// The byte-level BPE tokenizer stored in a GGUF file (`tokenizer.ggml.model = gpt2`) with the
/// `smollm` pre-tokenizer: digits split one by one, then the GPT-2 word pattern. Special tokens
/// (token types 3 and 4) in the text are parsed as single tokens. No BOS is added.
public struct Tokenizer: Sendable {
    /// Token strings in the GPT-2 byte-to-unicode alphabet, by id.
    public let tokens: [String]
    public let tokenTypes: [Int]
    public var vocabularySize: Int { tokens.count }
    /// `<|endoftext|>` (GGUF unknown/padding aside, the end of a document).
    public let endOfText: Int
    /// The end-of-turn token (`tokenizer.ggml.eos_token_id`, `<|im_end|>` for SmolLM2).
    public let endOfTurn: Int

    /// Whether `id` ends a choice (the end of turn or of text): it is not part of the output.
    public func endsChoice(_ id: Int) -> Bool { id == endOfTurn || id == endOfText }

    private let vocabulary: [String: Int]
    /// Merge rank and result by `left << 32 | right`.
    private let merges: [UInt64: (rank: Int32, merged: Int32)]
    private let byteTokens: [Int]
    private let decodedBytes: [[UInt8]]
    private let specials: [(bytes: [UInt8], id: Int)]
    private let specialFirstBytes: Set<UInt8>

    /// The tokenizer in `file`'s metadata.
    public init(gguf file: GGUFFile) throws {
        let model = try file.string("tokenizer.ggml.model")
        guard model == "gpt2" else { throw GGUFError.unsupported("tokenizer model \(model) (expected gpt2)") }
        if case .string(let pre) = file.metadata["tokenizer.ggml.pre"], pre != "smollm" {
            throw GGUFError.unsupported("pre-tokenizer \(pre) (expected smollm)")
        }
        let tokens = try file.strings("tokenizer.ggml.tokens")
        let types = (try? file.ints("tokenizer.ggml.token_type")) ?? Array(repeating: 1, count: tokens.count)
        let mergeStrings = try file.strings("tokenizer.ggml.merges")
        try self.init(
            tokens: tokens, tokenTypes: types, merges: mergeStrings,
            endOfTurn: (try? file.int("tokenizer.ggml.eos_token_id")) ?? 0)
    }

    /// A tokenizer from its parts (tests build small ones).
    public init(tokens: [String], tokenTypes: [Int], merges mergeStrings: [String], endOfTurn: Int) throws {
        guard tokenTypes.count == tokens.count else {
            throw GGUFError.corrupt(offset: 0, "token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        guard tokens.indices.contains(endOfTurn) else {
            throw GGUFError.corrupt(offset: 0, "eos_token_id \(endOfTurn) is not a token")
        }
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.endOfTurn = endOfTurn
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() where vocabulary[token] == nil { vocabulary[token] = id }
        self.vocabulary = vocabulary
        self.endOfText = vocabulary["<|endoftext|>"] ?? 0

        let (forward, backward) = Self.byteAlphabet()
        // 21 bytes have no token in SmolLM2's vocabulary: six control characters (0x04, 0x06, 0x13,
        // 0x14, 0x16, 0x1D), bytes that never occur in UTF-8 (0xC0, 0xC1, 0xF5–0xFF) and the lead
        // bytes 0xF1, 0xF2 (code points U+40000–U+BFFFF, unassigned). Like Hugging Face `tokenizers`
        // (BPE without an unknown token) they are dropped (-1 here), never encoded as id 0
        // (`<|endoftext|>`), which would end the text for the model.
        let byteTokens = (0..<256).map { vocabulary[String(Character(forward[$0]))] ?? -1 }
        self.byteTokens = byteTokens

        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        merges.reserveCapacity(mergeStrings.count)
        for (rank, merge) in mergeStrings.enumerated() {
            let parts = merge.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let left = vocabulary[String(parts[0])], let right = vocabulary[String(parts[1])],
                let merged = vocabulary[String(parts[0]) + String(parts[1])]
            else { continue }
            let key = UInt64(left) << 32 | UInt64(right)
            if merges[key] == nil { merges[key] = (Int32(rank), Int32(merged)) }
        }
        self.merges = merges

        var decodedBytes: [[UInt8]] = []
        decodedBytes.reserveCapacity(tokens.count)
        var specials: [(bytes: [UInt8], id: Int)] = []
        for (id, token) in tokens.enumerated() {
            if tokenTypes[id] == 3 || tokenTypes[id] == 4 {
                decodedBytes.append(Array(token.utf8))
                if !token.isEmpty { specials.append((Array(token.utf8), id)) }
            } else {
                var bytes: [UInt8] = []
                for scalar in token.unicodeScalars {
                    if let b = backward[scalar.value] {
                        bytes.append(b)
                    } else {
                        bytes.append(contentsOf: Array(String(scalar).utf8))
                    }
                }
                decodedBytes.append(bytes)
            }
        }
        self.decodedBytes = decodedBytes
        self.specials = specials.sorted { $0.bytes.count > $1.bytes.count }
        self.specialFirstBytes = Set(specials.compactMap(\.bytes.first))
    }

    /// GPT-2's reversible map from bytes to printable code points, and its inverse.
    static func byteAlphabet() -> (forward: [Unicode.Scalar], backward: [UInt32: UInt8]) {
        var forward = [Unicode.Scalar](repeating: " ", count: 256)
        var backward: [UInt32: UInt8] = [:]
        var extra: UInt32 = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            let code = printable ? UInt32(b) : 256 + extra
            if !printable { extra += 1 }
            forward[b] = Unicode.Scalar(code) ?? " "
            backward[code] = UInt8(b)
        }
        return (forward, backward)
    }

    /// Whether `id` is a special (control or user-defined) token.
    public func isSpecial(_ id: Int) -> Bool {
        tokenTypes.indices.contains(id) && (tokenTypes[id] == 3 || tokenTypes[id] == 4)
    }

    /// The ids of `text`; special-token strings become their tokens when `parseSpecial`.
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int] {
        let bytes = Array(text.utf8)
        var ids: [Int] = []
        var segmentStart = 0
        var i = 0
        while i < bytes.count {
            if parseSpecial, specialFirstBytes.contains(bytes[i]),
                let special = specials.first(where: { Self.hasPrefix(bytes, at: i, $0.bytes) })
            {
                encodeOrdinary(bytes[segmentStart..<i], into: &ids)
                ids.append(special.id)
                i += special.bytes.count
                segmentStart = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(bytes[segmentStart..<bytes.count], into: &ids)
        return ids
    }

    private static func hasPrefix(_ bytes: [UInt8], at i: Int, _ prefix: [UInt8]) -> Bool {
        guard bytes.count - i >= prefix.count else { return false }
        for k in 0..<prefix.count where bytes[i + k] != prefix[k] { return false }
        return true
    }

    private func encodeOrdinary(_ bytes: ArraySlice<UInt8>, into ids: inout [Int]) {
        guard !bytes.isEmpty else { return }
        let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
        for piece in PreTokenizer.split(scalars) {
            var pieceBytes: [UInt8] = []
            for s in scalars[piece] { UTF8.encode(s) { pieceBytes.append($0) } }
            bpe(pieceBytes, into: &ids)
        }
    }

    private func bpe(_ bytes: [UInt8], into ids: inout [Int]) {
        var symbols = bytes.compactMap { byte in byteTokens[Int(byte)] >= 0 ? byteTokens[Int(byte)] : nil }
        while symbols.count > 1 {
            var best = -1
            var bestRank = Int32.max
            var bestMerged: Int32 = 0
            for k in 0..<(symbols.count - 1) {
                if let m = merges[UInt64(symbols[k]) << 32 | UInt64(symbols[k + 1])], m.rank < bestRank {
                    best = k
                    bestRank = m.rank
                    bestMerged = m.merged
                }
            }
            if best < 0 { break }
            symbols[best] = Int(bestMerged)
            symbols.remove(at: best + 1)
        }
        ids.append(contentsOf: symbols)
    }

    /// The bytes token `id` stands for (empty for an id outside the vocabulary).
    public func bytes(of id: Int) -> [UInt8] {
        decodedBytes.indices.contains(id) ? decodedBytes[id] : []
    }

    /// The text of `ids` (invalid UTF-8 replaced); throws for an id outside the vocabulary.
    public func decode(_ ids: [Int]) throws -> String {
        var bytes: [UInt8] = []
        for (position, id) in ids.enumerated() {
            guard decodedBytes.indices.contains(id) else {
                throw InferenceError.tokenOutOfVocabulary(id: id, position: position, vocabularySize: tokens.count)
            }
            bytes.append(contentsOf: decodedBytes[id])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The `smollm` pre-tokenizer, hand-written: every `\p{N}` alone, then within the rest
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`, text no
/// alternative matches becoming a piece of its own.
enum PreTokenizer {
    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: true
        default: false
        }
    }

    static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    static func isOther(_ s: Unicode.Scalar) -> Bool { !isSpace(s) && !isLetter(s) && !isNumber(s) }

    /// The pieces of `scalars` as index ranges, in order, covering everything.
    static func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var start = 0
        for i in scalars.indices where isNumber(scalars[i]) {
            if start < i { splitWords(scalars, start..<i, into: &pieces) }
            pieces.append(i..<(i + 1))
            start = i + 1
        }
        if start < scalars.count { splitWords(scalars, start..<scalars.count, into: &pieces) }
        return pieces
    }

    private static func splitWords(_ s: [Unicode.Scalar], _ range: Range<Int>, into pieces: inout [Range<Int>]) {
        let end = range.upperBound
        var i = range.lowerBound
        var unmatchedStart: Int?
        func emit(_ r: Range<Int>) {
            if let u = unmatchedStart {
                pieces.append(u..<r.lowerBound)
                unmatchedStart = nil
            }
            pieces.append(r)
        }
        while i < end {
            if let length = match(s, at: i, end: end) {
                emit(i..<(i + length))
                i += length
            } else {
                if unmatchedStart == nil { unmatchedStart = i }
                i += 1
            }
        }
        if let u = unmatchedStart { pieces.append(u..<end) }
    }

    /// The length of the first alternative matching at `i`, or nil.
    private static func match(_ s: [Unicode.Scalar], at i: Int, end: Int) -> Int? {
        let c = s[i]
        if c == "'" && i + 1 < end {
            let a = s[i + 1]
            if a == "s" || a == "t" || a == "m" || a == "d" { return 2 }
            if i + 2 < end {
                let b = s[i + 2]
                if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
            }
        }
        let j = (c == " " && i + 1 < end) ? i + 1 : i
        for predicate in [isLetter, isNumber, isOther] as [(Unicode.Scalar) -> Bool] {
            if predicate(s[j]) {
                var k = j
                while k < end && predicate(s[k]) { k += 1 }
                return k - i
            }
        }
        if isSpace(c) {
            var k = i
            while k < end && isSpace(s[k]) { k += 1 }
            if k == end { return k - i }
            if k - i >= 2 { return k - i - 1 }
        }
        return nil
    }
}
