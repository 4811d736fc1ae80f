extension OutputGrammar {
    /// The automaton's position in the output: a stack of frames (the values being written, outer
    /// first). ``feed(_:in:)`` takes one byte and says whether the output can still be completed
    /// to a value of the grammar; a pure value, so a mask tries tokens on copies.
    public struct State: Sendable, Hashable {
        /// A node index standing for "any JSON value" (json_object mode's values).
        static let anyNode: Int32 = -1
        /// The literals `true`, `false`, `null` of an any value.
        static let anyLiterals: [[UInt8]] = [Array("true".utf8), Array("false".utf8), Array("null".utf8)]

        enum Frame: Sendable, Hashable {
            /// A value of `node` not started yet.
            case value(node: Int32)
            /// Declared properties: the next candidate index, the phase, the current value's node.
            case object(node: Int32, next: Int32, phase: Phase, valueNode: Int32)
            case freeObject(phase: Phase)
            case array(items: Int32, count: Int32, min: Int32, max: Int32, phase: Phase)
            /// Inside a string: characters so far, limits, escape state (0 none, 1 after `\`, 2…5
            /// hex digits of `\u` to come), UTF-8 continuation bytes to come.
            case string(length: Int32, min: Int32, max: Int32, escape: Int8, pending: Int8)
            case number(state: UInt8, integer: Bool, digits: UInt8)
            /// One of `node`'s literal texts (node ``anyNode``: true/false/null), `matched` bytes in.
            case literal(node: Int32, alive: [Int32], matched: Int32)
            /// A declared key of the object below, `matched` bytes in.
            case key(node: Int32, alive: [Int32], matched: Int32)
        }

        enum Phase: UInt8, Sendable, Hashable {
            case open, afterKey, afterColon, afterValue, afterComma
        }

        var frames: [Frame]
        var whitespace = 0
        /// The whole value is written: only the end of the output may follow.
        public private(set) var done = false

        init(root: Int) { frames = [.value(node: Int32(root))] }

        /// Whether the output may end here (the value is complete).
        public func isComplete(in grammar: OutputGrammar) -> Bool {
            if done { return true }
            guard frames.count == 1, let top = frames.last else { return false }
            switch top {
            case .number(let state, _, _): return Self.accepting(state)
            case .literal(let node, let alive, let matched):
                return alive.contains { texts(node, grammar)[Int($0)].count == Int(matched) }
            default: return false
            }
        }

        static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D }

        private mutating func space() -> Bool {
            whitespace += 1
            return whitespace <= OutputGrammar.maxWhitespace
        }

        /// The top frame is finished: pop it; the output is done when it was the root.
        private mutating func pop() {
            frames.removeLast()
            if frames.isEmpty { done = true }
        }

        private mutating func replaceTop(_ frame: Frame) { frames[frames.count - 1] = frame }

        /// The literal texts of `node` (a tagged node's prefixes).
        func texts(_ node: Int32, _ grammar: OutputGrammar) -> [[UInt8]] {
            if node == Self.anyNode { return Self.anyLiterals }
            switch grammar.nodes[Int(node)].kind {
            case .literals(let texts): return texts
            case .tagged(let prefixes, _, _): return prefixes
            default: return []
            }
        }

        /// A tagged node's prefix `index` is complete: its body follows, then the suffix.
        private mutating func enterTagged(_ node: Int32, prefix index: Int32, _ grammar: OutputGrammar) -> Bool {
            guard case .tagged(_, let bodies, let suffix) = grammar.nodes[Int(node)].kind else { return false }
            replaceTop(.value(node: Int32(suffix)))
            frames.append(.value(node: Int32(bodies[Int(index)])))
            whitespace = 0
            return true
        }

        func keys(_ node: Int32, _ grammar: OutputGrammar) -> [Property] {
            if case .object(let properties) = grammar.nodes[Int(node)].kind { return properties }
            return []
        }

        /// Property indices a key may name next: from `next` up to and including the first required.
        func candidates(_ node: Int32, next: Int32, _ grammar: OutputGrammar) -> [Int32] {
            let properties = keys(node, grammar)
            var out: [Int32] = []
            var i = Int(next)
            while i < properties.count {
                out.append(Int32(i))
                if properties[i].required { break }
                i += 1
            }
            return out
        }

        func anyRequired(_ node: Int32, from next: Int32, _ grammar: OutputGrammar) -> Bool {
            keys(node, grammar).dropFirst(Int(next)).contains { $0.required }
        }

        /// Takes one output byte; false if no completion of the grammar starts with the output so far
        /// plus `b` (the state is then unspecified: callers feed copies).
        public mutating func feed(_ b: UInt8, in grammar: OutputGrammar) -> Bool {
            while true {
                if done { return false }
                guard let top = frames.last else { return false }
                switch top {
                case .value(let node):
                    if Self.isWhitespace(b) {
                        // A tool call starts at its tag: no whitespace before it.
                        if node != Self.anyNode, case .tagged = grammar.nodes[Int(node)].kind { return false }
                        return space()
                    }
                    frames.removeLast()
                    guard start(node, b, grammar) else { return false }
                    whitespace = 0
                    return true
                case .object(let node, let next, let phase, let valueNode):
                    if Self.isWhitespace(b) && phase != .afterColon { return space() }
                    switch phase {
                    case .open, .afterComma:
                        if b == UInt8(ascii: "}") && phase == .open && !anyRequired(node, from: next, grammar) {
                            pop()
                            whitespace = 0
                            return true
                        }
                        guard b == UInt8(ascii: "\"") else { return false }
                        let alive = candidates(node, next: next, grammar)
                        guard !alive.isEmpty else { return false }
                        replaceTop(.object(node: node, next: next, phase: .afterKey, valueNode: valueNode))
                        frames.append(.key(node: node, alive: alive, matched: 1))
                    case .afterKey:
                        guard b == UInt8(ascii: ":") else { return false }
                        replaceTop(.object(node: node, next: next, phase: .afterColon, valueNode: valueNode))
                    case .afterColon:
                        replaceTop(.object(node: node, next: next, phase: .afterValue, valueNode: valueNode))
                        frames.append(.value(node: valueNode))
                        continue
                    case .afterValue:
                        if b == UInt8(ascii: ",") && !candidates(node, next: next, grammar).isEmpty {
                            replaceTop(.object(node: node, next: next, phase: .afterComma, valueNode: valueNode))
                        } else if b == UInt8(ascii: "}") && !anyRequired(node, from: next, grammar) {
                            pop()
                        } else {
                            return false
                        }
                    }
                    whitespace = 0
                    return true
                case .freeObject(let phase):
                    if Self.isWhitespace(b) && phase != .afterColon { return space() }
                    switch phase {
                    case .open, .afterComma:
                        if b == UInt8(ascii: "}") && phase == .open {
                            pop()
                        } else if b == UInt8(ascii: "\"") {
                            replaceTop(.freeObject(phase: .afterKey))
                            frames.append(.string(length: 0, min: 0, max: -1, escape: 0, pending: 0))
                        } else {
                            return false
                        }
                    case .afterKey:
                        guard b == UInt8(ascii: ":") else { return false }
                        replaceTop(.freeObject(phase: .afterColon))
                    case .afterColon:
                        replaceTop(.freeObject(phase: .afterValue))
                        frames.append(.value(node: Self.anyNode))
                        continue
                    case .afterValue:
                        if b == UInt8(ascii: ",") {
                            replaceTop(.freeObject(phase: .afterComma))
                        } else if b == UInt8(ascii: "}") {
                            pop()
                        } else {
                            return false
                        }
                    }
                    whitespace = 0
                    return true
                case .array(let items, let count, let min, let max, let phase):
                    if Self.isWhitespace(b) { return space() }
                    switch phase {
                    case .afterValue:
                        if b == UInt8(ascii: ",") && (max < 0 || count < max) {
                            replaceTop(.array(items: items, count: count, min: min, max: max, phase: .afterComma))
                        } else if b == UInt8(ascii: "]") && count >= min {
                            pop()
                        } else {
                            return false
                        }
                        whitespace = 0
                        return true
                    default:
                        if b == UInt8(ascii: "]") && phase == .open && min == 0 {
                            pop()
                            whitespace = 0
                            return true
                        }
                        if phase == .open && max == 0 { return false }
                        replaceTop(.array(items: items, count: count + 1, min: min, max: max, phase: .afterValue))
                        frames.append(.value(node: items))
                        continue
                    }
                case .string(let length, let min, let max, let escape, let pending):
                    return string(b, length: length, min: min, max: max, escape: escape, pending: pending, grammar)
                case .number(let state, let integer, let digits):
                    if let next = Self.number(state, integer: integer, digits: digits, b) {
                        replaceTop(.number(state: next.state, integer: integer, digits: next.digits))
                        return true
                    }
                    guard Self.accepting(state) else { return false }
                    pop()
                    continue
                case .literal(let node, let alive, let matched):
                    let all = texts(node, grammar)
                    let next = alive.filter { all[Int($0)].count > Int(matched) && all[Int($0)][Int(matched)] == b }
                    if next.isEmpty {
                        guard alive.contains(where: { all[Int($0)].count == Int(matched) }) else { return false }
                        pop()
                        continue
                    }
                    replaceTop(.literal(node: node, alive: next, matched: matched + 1))
                    // Finished when a text is complete and none is longer (else a following byte decides).
                    if next.allSatisfy({ all[Int($0)].count == Int(matched) + 1 }) {
                        if node != Self.anyNode, case .tagged = grammar.nodes[Int(node)].kind {
                            return enterTagged(node, prefix: next[0], grammar)
                        }
                        pop()
                    }
                    return true
                case .key(let node, let alive, let matched):
                    let properties = keys(node, grammar)
                    let next = alive.filter {
                        let key = properties[Int($0)].key
                        return key.count > Int(matched) && key[Int(matched)] == b
                    }
                    guard !next.isEmpty else { return false }
                    // Keys are JSON strings, so no key is a prefix of another: a complete one is the key.
                    if let chosen = next.first(where: { properties[Int($0)].key.count == Int(matched) + 1 }) {
                        frames.removeLast()
                        let parent = frames.count - 1
                        guard case .object(let n, _, let phase, _) = frames[parent] else { return false }
                        frames[parent] = .object(
                            node: n, next: chosen + 1, phase: phase, valueNode: Int32(properties[Int(chosen)].node))
                    } else {
                        replaceTop(.key(node: node, alive: next, matched: matched + 1))
                    }
                    return true
                }
            }
        }

        /// Starts a value of `node` with its first byte `b` (the value frame already popped).
        private mutating func start(_ node: Int32, _ b: UInt8, _ grammar: OutputGrammar) -> Bool {
            if node == Self.anyNode { return startAny(b) }
            switch grammar.nodes[Int(node)].kind {
            case .any: return startAny(b)
            case .object:
                guard b == UInt8(ascii: "{") else { return false }
                frames.append(.object(node: node, next: 0, phase: .open, valueNode: 0))
            case .freeObject:
                guard b == UInt8(ascii: "{"), frames.count < 2 * OutputGrammar.maxDepth else { return false }
                frames.append(.freeObject(phase: .open))
            case .array(let items, let min, let max):
                guard b == UInt8(ascii: "[") else { return false }
                frames.append(
                    .array(items: Int32(items), count: 0, min: Int32(min), max: Int32(max ?? -1), phase: .open))
            case .string(let min, let max):
                guard b == UInt8(ascii: "\"") else { return false }
                frames.append(.string(length: 0, min: Int32(min), max: Int32(max ?? -1), escape: 0, pending: 0))
            case .number(let integer):
                guard let first = Self.number(0, integer: integer, digits: 0, b) else { return false }
                frames.append(.number(state: first.state, integer: integer, digits: first.digits))
            case .literals(let texts):
                let alive = texts.indices.filter { texts[$0].first == b }.map { Int32($0) }
                guard !alive.isEmpty else { return false }
                frames.append(.literal(node: node, alive: alive, matched: 1))
                if alive.allSatisfy({ texts[Int($0)].count == 1 }) { pop() }
            case .tagged(let prefixes, _, _):
                let alive = prefixes.indices.filter { prefixes[$0].first == b }.map { Int32($0) }
                guard !alive.isEmpty else { return false }
                frames.append(.literal(node: node, alive: alive, matched: 1))
                if alive.count == 1 && prefixes[Int(alive[0])].count == 1 {
                    return enterTagged(node, prefix: alive[0], grammar)
                }
            case .union(let members):
                for member in members
                where OutputGrammar.firstBytes(of: grammar.nodes[member].kind, nodes: grammar.nodes).contains(b) {
                    return start(Int32(member), b, grammar)
                }
                return false
            }
            return true
        }

        private mutating func startAny(_ b: UInt8) -> Bool {
            switch b {
            case UInt8(ascii: "{"):
                guard frames.count < 2 * OutputGrammar.maxDepth else { return false }
                frames.append(.freeObject(phase: .open))
            case UInt8(ascii: "["):
                guard frames.count < 2 * OutputGrammar.maxDepth else { return false }
                frames.append(.array(items: Self.anyNode, count: 0, min: 0, max: -1, phase: .open))
            case UInt8(ascii: "\""): frames.append(.string(length: 0, min: 0, max: -1, escape: 0, pending: 0))
            case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                let alive = Self.anyLiterals.indices.filter { Self.anyLiterals[$0].first == b }.map { Int32($0) }
                frames.append(.literal(node: Self.anyNode, alive: alive, matched: 1))
            default:
                guard let first = Self.number(0, integer: false, digits: 0, b) else { return false }
                frames.append(.number(state: first.state, integer: false, digits: first.digits))
            }
            return true
        }

        /// One byte inside a string (after its opening quote).
        private mutating func string(
            _ b: UInt8, length: Int32, min: Int32, max: Int32, escape: Int8, pending: Int8, _ grammar: OutputGrammar
        ) -> Bool {
            func set(length: Int32, escape: Int8 = 0, pending: Int8 = 0) {
                replaceTop(.string(length: length, min: min, max: max, escape: escape, pending: pending))
            }
            if pending > 0 {
                guard b & 0xC0 == 0x80 else { return false }
                set(length: length, pending: pending - 1)
                return true
            }
            switch escape {
            case 1:
                if b == UInt8(ascii: "u") {
                    set(length: length, escape: 2)
                    return true
                }
                guard Array("\"\\/bfnrt".utf8).contains(b) else { return false }
                set(length: length)
                return true
            case 2...5:
                guard Self.isHex(b) else { return false }
                set(length: length, escape: escape == 5 ? 0 : escape + 1)
                return true
            default: break
            }
            if b == UInt8(ascii: "\"") {
                guard length >= min else { return false }
                pop()
                whitespace = 0
                return true
            }
            guard b >= 0x20, max < 0 || length < max else { return false }
            if b == UInt8(ascii: "\\") {
                set(length: length + 1, escape: 1)
                return true
            }
            switch b {
            case 0x20..<0x80: set(length: length + 1)
            case 0xC2...0xDF: set(length: length + 1, pending: 1)
            case 0xE0...0xEF: set(length: length + 1, pending: 2)
            case 0xF0...0xF4: set(length: length + 1, pending: 3)
            default: return false
            }
            return true
        }

        static func isHex(_ b: UInt8) -> Bool {
            (0x30...0x39).contains(b) || (0x41...0x46).contains(b) || (0x61...0x66).contains(b)
        }

        /// Number states: 0 start, 1 after `-`, 2 after a leading `0`, 3 integer digits, 4 after `.`,
        /// 5 fraction digits, 6 after `e`, 7 after the exponent's sign, 8 exponent digits.
        static func accepting(_ state: UInt8) -> Bool { state == 2 || state == 3 || state == 5 || state == 8 }

        /// The next number state after `b`, or nil when `b` does not continue the number.
        static func number(
            _ state: UInt8, integer: Bool, digits: UInt8, _ b: UInt8
        ) -> (state: UInt8, digits: UInt8)? {
            let digit = (0x30...0x39).contains(b)
            let maxDigits = UInt8(OutputGrammar.maxDigits)
            switch state {
            case 0:
                if b == UInt8(ascii: "-") { return (1, 0) }
                return digit ? (b == UInt8(ascii: "0") ? 2 : 3, 1) : nil
            case 1: return digit ? (b == UInt8(ascii: "0") ? 2 : 3, 1) : nil
            case 2, 3:
                if digit && state == 3 && digits < maxDigits { return (3, digits + 1) }
                if integer { return nil }
                if b == UInt8(ascii: ".") { return (4, 0) }
                if b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { return (6, 0) }
                return nil
            case 4: return digit ? (5, 1) : nil
            case 5:
                if digit && digits < maxDigits { return (5, digits + 1) }
                if b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { return (6, 0) }
                return nil
            case 6:
                if b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { return (7, 0) }
                return digit ? (8, 1) : nil
            case 7: return digit ? (8, 1) : nil
            case 8: return digit && digits < 3 ? (8, digits + 1) : nil
            default: return nil
            }
        }
    }
}
