import GonkaCore

/// The constraint of a structured-output request (`response_format` `json_object` or
/// `json_schema`), compiled from the JSON schema into a byte-level pushdown automaton
/// (``OutputGrammar/State``). The sampler masks every token whose bytes the automaton refuses
/// (``GrammarVocabulary/mask(_:state:)``), so the answer always parses and, for a schema, validates.
///
/// Supported: `type` object / array / string / number / integer / boolean / null (or a list of
/// them), `enum`, `const`, `properties` with `required` (generated in declared order; properties
/// not declared are never generated, as with `additionalProperties: false`), an object without
/// `properties` (any keys and values), `items`, `minItems` / `maxItems`, `minLength` / `maxLength`,
/// `anyOf` / `oneOf` whose members start with different characters, local `$ref`s (`#/$defs/…`,
/// `#/definitions/…`). Limits: nesting depth 16, 256 schema nodes. Numbers have at most 15 digits
/// before and after the point; whitespace runs between tokens at most 8 bytes.
public final class OutputGrammar: Sendable, Hashable, CustomStringConvertible {
    /// Nesting depth limit of a schema (and of free JSON values in `json_object` mode).
    public static let maxDepth = 16
    /// Schema node limit.
    public static let maxNodes = 256
    static let maxWhitespace = 8
    static let maxDigits = 15

    /// The `response_format` it was compiled from.
    public let source: JSONValue
    let nodes: [Node]
    let root: Int

    public static func == (a: OutputGrammar, b: OutputGrammar) -> Bool { a.source == b.source }
    public func hash(into hasher: inout Hasher) { hasher.combine(source) }
    public var description: String { "OutputGrammar(\(source.rendered))" }

    indirect enum Kind: Sendable {
        /// Any JSON value.
        case any
        /// Declared properties in order (key as JSON text with quotes, node, required).
        case object([Property])
        /// An object with any keys and values.
        case freeObject
        case array(items: Int, min: Int, max: Int?)
        case string(min: Int, max: Int?)
        case number(integer: Bool)
        /// One of these JSON texts (`enum`, `const`, `boolean`, `null`).
        case literals([[UInt8]])
        /// Members told apart by their first byte.
        case union([Int])
        /// One of several fixed texts, then the value of the matching body node, then the `suffix`
        /// node (a tool call: `<tool_call>\n{"name": "f", "arguments": ` ARGS `}\n</tool_call>`). No
        /// text is a prefix of another, so the text that completes picks the body.
        case tagged(prefixes: [[UInt8]], bodies: [Int], suffix: Int)
    }

    struct Property: Sendable {
        var key: [UInt8]
        var node: Int
        var required: Bool
    }

    struct Node: Sendable {
        var kind: Kind
    }

    private init(source: JSONValue, nodes: [Node], root: Int) {
        self.source = source
        self.nodes = nodes
        self.root = root
    }

    /// The grammar of a `response_format` value: nil for `{"type": "text"}` (no constraint);
    /// `json_object` → any JSON object; `json_schema` → its `json_schema.schema`. Throws
    /// ``OutputGrammarError`` naming the field for anything else, a schema outside the supported
    /// subset, or one over the limits.
    public static func compile(responseFormat: JSONValue) throws(OutputGrammarError) -> OutputGrammar? {
        guard responseFormat.objectValue != nil, let type = responseFormat["type"]?.stringValue else {
            throw OutputGrammarError(
                "'response_format' must be an object with 'type' text, json_object or json_schema.",
                param: "response_format")
        }
        switch type {
        case "text": return nil
        case "json_object":
            return OutputGrammar(source: responseFormat, nodes: [Node(kind: .freeObject)], root: 0)
        case "json_schema":
            guard let wrapper = responseFormat["json_schema"], wrapper.objectValue != nil else {
                throw OutputGrammarError(
                    "'response_format.json_schema' must be an object with 'name' and 'schema'.",
                    param: "response_format.json_schema")
            }
            guard let schema = wrapper["schema"], schema.objectValue != nil else {
                throw OutputGrammarError(
                    "'response_format.json_schema.schema' must be a JSON schema object.",
                    param: "response_format.json_schema.schema")
            }
            var compiler = Compiler(document: schema, param: "response_format.json_schema.schema")
            let root = try compiler.node(schema, depth: 1, path: "response_format.json_schema.schema")
            return OutputGrammar(source: responseFormat, nodes: compiler.nodes, root: root)
        case ToolCallFormat.type:
            return try toolCall(responseFormat)
        default:
            throw OutputGrammarError(
                "'response_format.type' must be text, json_object or json_schema; got '\(type)'.",
                param: "response_format.type")
        }
    }

    /// The grammar of a forced tool call (``ToolCallFormat``): one Hermes-style call of one of the
    /// listed functions, its arguments constrained to that function's `parameters`.
    static func toolCall(_ format: JSONValue) throws(OutputGrammarError) -> OutputGrammar {
        guard let tools = format["tools"]?.arrayValue, !tools.isEmpty else {
            throw OutputGrammarError("A tool-call constraint needs a non-empty 'tools' list.", param: "tools")
        }
        var compiler = Compiler(document: .null, param: "tools")
        var prefixes: [[UInt8]] = []
        var bodies: [Int] = []
        for (i, tool) in tools.enumerated() {
            let param = "tools[\(i)].function.parameters"
            guard let name = tool["name"]?.stringValue, !name.isEmpty else {
                throw OutputGrammarError("tools[\(i)] needs a 'name'.", param: "tools[\(i)].function.name")
            }
            let prefix = Array(ToolCallFormat.prefix(name: name).utf8)
            guard !prefixes.contains(prefix) else {
                throw OutputGrammarError("Function '\(name)' is listed twice.", param: "tools[\(i)].function.name")
            }
            prefixes.append(prefix)
            let schema = tool["parameters"]
            if let schema, !schema.isNull {
                guard schema.objectValue != nil else {
                    throw OutputGrammarError("'\(param)' must be a JSON schema object.", param: param)
                }
                compiler.document = schema
                bodies.append(try compiler.node(schema, depth: 1, path: param))
            } else {
                bodies.append(try compiler.add(.freeObject))
            }
        }
        let suffix = try compiler.add(.literals([Array(ToolCallFormat.suffix.utf8)]))
        let root = try compiler.add(.tagged(prefixes: prefixes, bodies: bodies, suffix: suffix))
        return OutputGrammar(source: format, nodes: compiler.nodes, root: root)
    }

    /// The grammar of a tool call's `arguments` (a function's `parameters` schema; an absent
    /// schema means any object).
    public static func compile(schema: JSONValue?, param: String) throws(OutputGrammarError) -> OutputGrammar {
        guard let schema, !schema.isNull else {
            return OutputGrammar(source: ["type": "object"], nodes: [Node(kind: .freeObject)], root: 0)
        }
        guard schema.objectValue != nil else {
            throw OutputGrammarError("'\(param)' must be a JSON schema object.", param: param)
        }
        var compiler = Compiler(document: schema, param: param)
        let root = try compiler.node(schema, depth: 1, path: param)
        return OutputGrammar(source: schema, nodes: compiler.nodes, root: root)
    }

    /// The automaton at the start of the output.
    public var start: State { State(root: root) }

    /// Schema → nodes, with the limits.
    struct Compiler {
        /// The schema `$ref`s resolve in (a tool call compiles one document per function).
        var document: JSONValue
        let param: String
        var nodes: [Node] = []

        init(document: JSONValue, param: String) {
            self.document = document
            self.param = param
        }

        mutating func add(_ kind: Kind) throws(OutputGrammarError) -> Int {
            guard nodes.count < OutputGrammar.maxNodes else {
                throw OutputGrammarError(
                    "The schema is too large: more than \(OutputGrammar.maxNodes) nodes (the limit).", param: param)
            }
            nodes.append(Node(kind: kind))
            return nodes.count - 1
        }

        func resolve(_ ref: String, path: String) throws(OutputGrammarError) -> JSONValue {
            let parts = ref.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.first == "#" else {
                throw OutputGrammarError("Only local '$ref's (#/$defs/…) are supported; got '\(ref)'.", param: path)
            }
            var value = document
            for part in parts.dropFirst() {
                let key = part.replacing("~1", with: "/").replacing("~0", with: "~")
                guard let next = value[key] else {
                    throw OutputGrammarError("'$ref' '\(ref)' points at nothing.", param: path)
                }
                value = next
            }
            return value
        }

        // swift-format-ignore: NoAssignmentInExpressions
        mutating func node(_ schema: JSONValue, depth: Int, path: String) throws(OutputGrammarError) -> Int {
            guard depth <= OutputGrammar.maxDepth else {
                throw OutputGrammarError(
                    "The schema nests deeper than \(OutputGrammar.maxDepth) levels (the limit), or is recursive.",
                    param: path)
            }
            if let bool = schema.boolValue {
                guard bool else { throw OutputGrammarError("A 'false' schema allows no value.", param: path) }
                return try add(.any)
            }
            guard schema.objectValue != nil else {
                throw OutputGrammarError("'\(path)' must be a schema object.", param: path)
            }
            if let ref = schema["$ref"]?.stringValue {
                return try node(try resolve(ref, path: path), depth: depth + 1, path: path)
            }
            if let value = schema["const"] { return try add(.literals([value.bytes(sortedKeys: false)])) }
            if let list = schema["enum"] {
                guard let values = list.arrayValue, !values.isEmpty else {
                    throw OutputGrammarError("'\(path).enum' must be a non-empty array.", param: path + ".enum")
                }
                return try add(.literals(values.map { $0.bytes(sortedKeys: false) }))
            }
            for key in ["anyOf", "oneOf"] {
                if let list = schema[key] {
                    guard let members = list.arrayValue, !members.isEmpty else {
                        throw OutputGrammarError("'\(path).\(key)' must be a non-empty array.", param: "\(path).\(key)")
                    }
                    var ids: [Int] = []
                    for (i, member) in members.enumerated() {
                        ids.append(try node(member, depth: depth + 1, path: "\(path).\(key)[\(i)]"))
                    }
                    return try union(ids, path: "\(path).\(key)")
                }
            }
            let type = schema["type"]
            if let types = type?.arrayValue {
                var ids: [Int] = []
                for (i, t) in types.enumerated() {
                    guard let name = t.stringValue else {
                        throw OutputGrammarError("'\(path).type[\(i)]' must be a string.", param: path + ".type")
                    }
                    ids.append(try typed(name, schema: schema, depth: depth, path: path))
                }
                guard !ids.isEmpty else {
                    throw OutputGrammarError("'\(path).type' must not be empty.", param: path + ".type")
                }
                return ids.count == 1 ? ids[0] : try union(ids, path: path + ".type")
            }
            guard let type else {
                if schema["properties"] != nil { return try typed("object", schema: schema, depth: depth, path: path) }
                if schema["items"] != nil { return try typed("array", schema: schema, depth: depth, path: path) }
                return try add(.any)
            }
            guard let name = type.stringValue else {
                throw OutputGrammarError("'\(path).type' must be a string or a list of strings.", param: path + ".type")
            }
            return try typed(name, schema: schema, depth: depth, path: path)
        }

        mutating func union(_ ids: [Int], path: String) throws(OutputGrammarError) -> Int {
            var seen: [UInt8: Int] = [:]
            for id in ids {
                for byte in OutputGrammar.firstBytes(of: nodes[id].kind, nodes: nodes) {
                    if let other = seen[byte], other != id {
                        throw OutputGrammarError(
                            "'\(path)': members that can start with the same character are not supported.", param: path)
                    }
                    seen[byte] = id
                }
            }
            return try add(.union(ids))
        }

        mutating func typed(
            _ name: String, schema: JSONValue, depth: Int, path: String
        ) throws(OutputGrammarError) -> Int {
            func count(_ key: String) throws(OutputGrammarError) -> Int? {
                guard let value = schema[key], !value.isNull else { return nil }
                guard let n = value.intValue, n >= 0 else {
                    throw OutputGrammarError(
                        "'\(path).\(key)' must be a non-negative integer.", param: "\(path).\(key)")
                }
                return n
            }
            switch name {
            case "string":
                let min = try count("minLength") ?? 0
                let max = try count("maxLength")
                if let max, max < min {
                    throw OutputGrammarError("'\(path).maxLength' is below minLength.", param: path + ".maxLength")
                }
                return try add(.string(min: min, max: max))
            case "number": return try add(.number(integer: false))
            case "integer": return try add(.number(integer: true))
            case "boolean": return try add(.literals([Array("true".utf8), Array("false".utf8)]))
            case "null": return try add(.literals([Array("null".utf8)]))
            case "array":
                let min = try count("minItems") ?? 0
                let max = try count("maxItems")
                if let max, max < min {
                    throw OutputGrammarError("'\(path).maxItems' is below minItems.", param: path + ".maxItems")
                }
                let items: Int
                if let schemaItems = schema["items"], !schemaItems.isNull {
                    items = try node(schemaItems, depth: depth + 1, path: path + ".items")
                } else {
                    items = try add(.any)
                }
                return try add(.array(items: items, min: min, max: max))
            case "object":
                guard let properties = schema["properties"], !properties.isNull else { return try add(.freeObject) }
                guard let list = properties.objectValue else {
                    throw OutputGrammarError("'\(path).properties' must be an object.", param: path + ".properties")
                }
                var required: Set<String> = []
                if let names = schema["required"], !names.isNull {
                    guard let array = names.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
                        throw OutputGrammarError(
                            "'\(path).required' must be a list of property names.", param: path + ".required")
                    }
                    required = Set(array.compactMap(\.stringValue))
                    for name in required where !list.contains(where: { $0.0 == name }) {
                        throw OutputGrammarError(
                            "'\(path).required' names '\(name)', which is not in properties.", param: path + ".required"
                        )
                    }
                }
                var out: [Property] = []
                for (key, value) in list {
                    let child = try node(value, depth: depth + 1, path: "\(path).properties.\(key)")
                    out.append(
                        Property(key: Array(JSONText.quoted(key).utf8), node: child, required: required.contains(key)))
                }
                return try add(.object(out))
            default:
                throw OutputGrammarError(
                    "'\(path).type' '\(name)' is not a JSON schema type.", param: path + ".type")
            }
        }
    }

    /// The bytes a value of `kind` can start with (whitespace aside).
    static func firstBytes(of kind: Kind, nodes: [Node]) -> Set<UInt8> {
        let digits = Set(Array("-0123456789".utf8))
        switch kind {
        case .any: return digits.union(Array("{[\"tfn".utf8))
        case .object, .freeObject: return [UInt8(ascii: "{")]
        case .array: return [UInt8(ascii: "[")]
        case .string: return [UInt8(ascii: "\"")]
        case .number: return digits
        case .literals(let texts): return Set(texts.compactMap(\.first))
        case .tagged(let prefixes, _, _): return Set(prefixes.compactMap(\.first))
        case .union(let ids):
            return ids.reduce(into: Set<UInt8>()) { $0.formUnion(firstBytes(of: nodes[$1].kind, nodes: nodes)) }
        }
    }
}

/// A `response_format` or tool schema outside what ``OutputGrammar`` supports: the sentence and
/// the field.
public struct OutputGrammarError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public let param: String

    public init(_ message: String, param: String) {
        self.message = message
        self.param = param
    }

    public var description: String { message }
}
