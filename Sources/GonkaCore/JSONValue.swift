/// Any JSON value, for JSON whose shape is not fixed: the records and proofs inside the chain RPC's
/// query envelope, ledger events, and the OpenAI bodies the API node inspects and rewrites.
///
/// Integers stay integers (`int`, or `uint` above `Int64.max`) and floating numbers stay `double`,
/// so a value re-serialised is the value that came in. An object keeps its keys in order: it renders
/// them as they were parsed or built (or sorted, on request). Equality follows JSON, not spelling:
/// key order does not count and `int(1)` equals `uint(1)`, while `1` and `1.0` differ.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    /// A non-negative integer; parsing makes one only above `Int64.max` (smaller ones are `int`).
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Key–value pairs in order; keys are unique when parsed or set through the subscript.
    case object([(String, JSONValue)])
}

// MARK: Reading

extension JSONValue {
    /// The value of `key` in an object (nil when absent or not an object). Setting replaces the
    /// value in place, appends a new key at the end, or removes the key (nil); on a non-object it
    /// makes an object.
    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let fields) = self else { return nil }
            return fields.last { $0.0 == key }?.1
        }
        set {
            var fields: [(String, JSONValue)]
            if case .object(let existing) = self { fields = existing } else { fields = [] }
            self = .null  // drops the enum's reference so the array is mutated in place
            if let index = fields.firstIndex(where: { $0.0 == key }) {
                if let newValue { fields[index].1 = newValue } else { fields.remove(at: index) }
            } else if let newValue {
                fields.append((key, newValue))
            }
            self = .object(fields)
        }
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// An integer: an `int`, a `uint` that fits, or a `double` with no fraction.
    public var intValue: Int? {
        switch self {
        case .int(let i): Int(exactly: i)
        case .uint(let u): Int(exactly: u)
        case .double(let d): Int(exactly: d)
        default: nil
        }
    }

    /// A non-negative integer (as `intValue`, but up to `UInt64.max`).
    public var uint64Value: UInt64? {
        switch self {
        case .int(let i): UInt64(exactly: i)
        case .uint(let u): u
        case .double(let d): UInt64(exactly: d)
        default: nil
        }
    }

    /// Any number as a `Double`.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .uint(let u): Double(u)
        case .double(let d): d
        default: nil
        }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [(String, JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }
}

// MARK: Literals

// Not `ExpressibleByNilLiteral`: with it, `nil` where a `JSONValue?` is expected can become `.null`
// instead of "nothing" (`cond ? nil : value` did, and streamed `data: null` to clients); JSON null
// is spelled `.null`.
extension JSONValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public typealias Key = String
    public typealias Value = JSONValue

    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Keeps the literal's key order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }

    /// A number from an unsigned integer: `int` when it fits, else `uint`.
    public init(_ value: UInt64) { self = Int64(exactly: value).map { .int($0) } ?? .uint(value) }
    public init(_ value: Int) { self = .int(Int64(value)) }
}

// MARK: Equality

extension JSONValue: Hashable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object, .object): return lhs.uniqueFields == rhs.uniqueFields
        case (.int, .int), (.int, .uint), (.uint, .int), (.uint, .uint):
            return lhs.integerKey?.negative == rhs.integerKey?.negative
                && lhs.integerKey?.magnitude == rhs.integerKey?.magnitude
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int, .uint:
            hasher.combine(1)
            hasher.combine(integerKey?.negative)
            hasher.combine(integerKey?.magnitude)
        case .double(let d): hasher.combine(d)
        case .string(let s): hasher.combine(s)
        case .array(let a): hasher.combine(a)
        case .object: hasher.combine(uniqueFields)
        }
    }

    /// An integer as sign and magnitude, so `int` and `uint` compare by value.
    private var integerKey: (negative: Bool, magnitude: UInt64)? {
        switch self {
        case .int(let i): (i < 0, i.magnitude)
        case .uint(let u): (false, u)
        default: nil
        }
    }

    /// An object's fields by key, the last of equal keys winning (as a parser keeps it).
    private var uniqueFields: [String: JSONValue] {
        guard case .object(let fields) = self else { return [:] }
        return Dictionary(fields) { $1 }
    }
}

// MARK: Codable

extension JSONValue: Codable {
    struct FieldKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes any JSON. Through a `Decoder` the order of an object's keys is the decoder's;
    /// ``init(parsing:)`` keeps the text's.
    public init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: FieldKey.self) {
            var fields: [(String, JSONValue)] = []
            for key in keyed.allKeys { fields.append((key.stringValue, try keyed.decode(JSONValue.self, forKey: key))) }
            self = .object(fields)
            return
        }
        if var list = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !list.isAtEnd { items.append(try list.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let u = try? c.decode(UInt64.self) {
            self = .uint(u)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .int(let i):
            var c = encoder.singleValueContainer()
            try c.encode(i)
        case .uint(let u):
            var c = encoder.singleValueContainer()
            try c.encode(u)
        case .double(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let fields):
            var c = encoder.container(keyedBy: FieldKey.self)
            for (key, value) in fields { try c.encode(value, forKey: FieldKey(stringValue: key)) }
        }
    }
}
