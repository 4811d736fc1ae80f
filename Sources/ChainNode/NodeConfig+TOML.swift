import TOMLKit

/// `config.toml` read through TOMLKit (toml++) and flattened into `section.key` entries for
/// ``NodeConfig/init(toml:)``, which names every key it knows and refuses the rest; and the
/// quoting ``NodeConfig/toml`` writes strings with.
enum ConfigTOML {
    /// A value as ``NodeConfig`` reads it: the four kinds the file uses, and anything else TOML
    /// allows (floats, dates, tables, mixed arrays), which no key takes.
    enum Value: Equatable {
        case string(String)
        case integer(Int64)
        case bool(Bool)
        case strings([String])
        case other

        func string(_ key: String) throws(NodeError) -> String {
            guard case .string(let s) = self else { throw .config("\(key) must be a string") }
            return s
        }

        func strings(_ key: String) throws(NodeError) -> [String] {
            guard case .strings(let s) = self else { throw .config("\(key) must be an array of strings") }
            return s
        }

        func integer(_ key: String, min: Int64) throws(NodeError) -> Int64 {
            guard case .integer(let i) = self, i >= min else { throw .config("\(key) must be an integer ≥ \(min)") }
            return i
        }

        /// An integer in `range`, refused by name with the range otherwise.
        func integer(_ key: String, in range: ClosedRange<Int64>) throws(NodeError) -> Int64 {
            guard case .integer(let i) = self, range.contains(i) else {
                throw .config("\(key) must be an integer in \(range.lowerBound)…\(range.upperBound)")
            }
            return i
        }

        func bool(_ key: String) throws(NodeError) -> Bool {
            guard case .bool(let b) = self else { throw .config("\(key) must be true or false") }
            return b
        }
    }

    /// `section.key` → value for every leaf of the document (tables flattened with dots; an
    /// empty table adds nothing), in key order: TOML tables keep no file order.
    static func parse(_ text: String) throws(NodeError) -> [(String, Value)] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw .config("config.toml line \(error.source.begin.line): \(describe(error.description))")
        } catch {
            throw .config("config.toml: \(error)")
        }
        var out: [(String, Value)] = []
        flatten(table, prefix: "", into: &out)
        return out
    }

    private static func flatten(_ table: TOMLTable, prefix: String, into out: inout [(String, Value)]) {
        for (key, value) in table {
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if let nested = value.table {
                flatten(nested, prefix: path, into: &out)
            } else {
                out.append((path, Value(value)))
            }
        }
    }

    /// toml++ says "Error while parsing <what>: <detail>"; the message names the class of mistake
    /// the hand parser used to name (duplicate key, bad section header, bad key, bad value) and
    /// keeps toml++'s detail.
    private static func describe(_ message: String) -> String {
        let prefix = "Error while parsing "
        var scope = ""
        var detail = message
        if message.hasPrefix(prefix), let colon = message.firstIndex(of: ":") {
            scope = String(message[message.index(message.startIndex, offsetBy: prefix.count)..<colon])
            detail = String(message[message.index(after: colon)...].drop { $0 == " " })
        }
        let what =
            if detail.contains("redefine") {
                "duplicate key"
            } else {
                switch scope {
                case "table header": "bad section header"
                case "key": "bad key"
                case "key-value pair", "root table", "comment", "": "expected key = value"
                default: "bad value"
                }
            }
        return scope.isEmpty ? "\(what) (\(detail))" : "\(what) (\(scope): \(detail))"
    }

    /// A TOML basic string. Control characters other than the named escapes are written as
    /// `\uXXXX`: TOML forbids them raw.
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension ConfigTOML.Value {
    init(_ value: any TOMLValueConvertible) {
        if let s = value.string {
            self = .string(s)
        } else if let i = value.int {
            self = .integer(Int64(i))
        } else if let b = value.bool {
            self = .bool(b)
        } else if let array = value.array {
            var items: [String] = []
            for item in array {
                guard let s = item.string else {
                    self = .other
                    return
                }
                items.append(s)
            }
            self = .strings(items)
        } else {
            self = .other
        }
    }
}
