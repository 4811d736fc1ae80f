/// A model's vocabulary arranged for masking by an ``OutputGrammar``: each ordinary token's bytes,
/// tokens grouped by first byte, and which tokens are plain string text (whole UTF-8 characters, no
/// control character, `"` or `\`), so a position inside a string decides most of the vocabulary by
/// length alone.
/// Special tokens (types 3, 4) are never allowed inside the output; the end tokens are allowed
/// exactly when the grammar's value is complete.
public struct GrammarVocabulary: Sendable {
    let bytes: [[UInt8]]
    let byFirst: [[Int32]]
    /// Character count of a plain-text token, else −1.
    let plainLength: [Int32]
    let endTokens: [Int]
    /// A byte trie of the ordinary tokens (node 0 the root): outside strings a mask walks it and
    /// stops at the first byte the grammar refuses, so most of the vocabulary is never looked at.
    let trie: Trie
    public var count: Int { bytes.count }

    struct Trie: Sendable {
        /// Per node: its children as (byte, node) sorted by byte, and the tokens ending there.
        var children: [[(byte: UInt8, node: Int32)]] = [[]]
        var tokens: [[Int32]] = [[]]

        /// The trie of `bytes` (empty entries left out), built in one pass over them sorted.
        init(_ bytes: [[UInt8]]) {
            let order = bytes.indices.filter { !bytes[$0].isEmpty }.sorted {
                bytes[$0].lexicographicallyPrecedes(bytes[$1])
            }
            var path: [Int] = [0]  // path[d] = the node at depth d of the previous token
            var previous: [UInt8] = []
            for id in order {
                let token = bytes[id]
                var common = 0
                while common < min(token.count, previous.count) && token[common] == previous[common] { common += 1 }
                path.removeLast(path.count - 1 - common)
                for b in token[common...] {
                    children.append([])
                    tokens.append([])
                    let node = children.count - 1
                    children[path[path.count - 1]].append((b, Int32(node)))
                    path.append(node)
                }
                tokens[path[path.count - 1]].append(Int32(id))
                previous = token
            }
        }
    }

    public init(_ tokenizer: Tokenizer) {
        var bytes: [[UInt8]] = []
        var byFirst = [[Int32]](repeating: [], count: 256)
        var plain: [Int32] = []
        bytes.reserveCapacity(tokenizer.vocabularySize)
        for id in 0..<tokenizer.vocabularySize {
            let special = tokenizer.tokenTypes[id] == 3 || tokenizer.tokenTypes[id] == 4
            let b = special ? [] : tokenizer.bytes(of: id)
            bytes.append(b)
            if let first = b.first { byFirst[Int(first)].append(Int32(id)) }
            let isPlain =
                !b.isEmpty && b.allSatisfy { $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }
                && String(validating: b, as: UTF8.self) != nil
            plain.append(isPlain ? Int32(b.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }) : -1)
        }
        trie = Trie(bytes)
        self.bytes = bytes
        self.byFirst = byFirst
        plainLength = plain
        endTokens = Array(Set([tokenizer.endOfTurn, tokenizer.endOfText])).sorted()
    }

    /// Sets the logit of every token the grammar refuses in `state` to −∞. An end token is allowed
    /// only when the value is complete (and then nothing else is). If nothing at all is allowed
    /// (cannot happen with a vocabulary holding every ASCII byte), the end tokens are.
    public func mask(_ logits: UnsafeMutableBufferPointer<Float>, grammar: OutputGrammar, state: OutputGrammar.State) {
        let allowed = self.allowed(grammar: grammar, state: state)
        var keep = [Bool](repeating: false, count: logits.count)
        for id in allowed where id < logits.count { keep[id] = true }
        if allowed.isEmpty { for id in endTokens where id < logits.count { keep[id] = true } }
        for i in 0..<logits.count where !keep[i] { logits[i] = -.infinity }
    }

    /// The token ids the grammar allows in `state`, ascending.
    public func allowed(grammar: OutputGrammar, state: OutputGrammar.State) -> [Int] {
        if state.isComplete(in: grammar) { return endTokens }
        var out: [Int] = []
        // Inside a string with no escape or split character pending: plain tokens need only fit.
        var room: Int32 = -2
        if case .string(let length, _, let max, let escape, let pending) = state.frames.last, escape == 0,
            pending == 0
        {
            room = max < 0 ? Int32.max : max - length
        }
        if room < 0 {
            // Outside strings few bytes are allowed: walk the trie, pruning at the first refusal.
            walk(0, state, grammar, into: &out)
            out.sort()
            return out
        }
        for first in 0..<256 where !byFirst[first].isEmpty {
            var afterFirst = state
            guard afterFirst.feed(UInt8(first), in: grammar) else { continue }
            for id in byFirst[first] {
                let plain = plainLength[Int(id)]
                if room >= 0 && plain >= 0 {
                    if plain <= room { out.append(Int(id)) }
                    continue
                }
                let token = bytes[Int(id)]
                if token.count == 1 {
                    out.append(Int(id))
                    continue
                }
                var s = afterFirst
                var ok = true
                for b in token.dropFirst() where !s.feed(b, in: grammar) {
                    ok = false
                    break
                }
                if ok { out.append(Int(id)) }
            }
        }
        out.sort()
        return out
    }

    private func walk(_ node: Int, _ state: OutputGrammar.State, _ grammar: OutputGrammar, into out: inout [Int]) {
        for (b, child) in trie.children[node] {
            var next = state
            guard next.feed(b, in: grammar) else { continue }
            for id in trie.tokens[Int(child)] { out.append(Int(id)) }
            walk(Int(child), next, grammar, into: &out)
        }
    }

    /// The state after `token`'s bytes, or nil when the grammar refuses it (an end token is
    /// accepted when the value is complete and leaves the state as it is).
    public func advance(_ state: OutputGrammar.State, by token: Int, grammar: OutputGrammar) -> OutputGrammar.State? {
        if endTokens.contains(token) { return state.isComplete(in: grammar) ? state : nil }
        guard bytes.indices.contains(token), !bytes[token].isEmpty else { return nil }
        var s = state
        for b in bytes[token] where !s.feed(b, in: grammar) { return nil }
        return s
    }
}
