import GonkaCore

/// An independent check of a JSON value against a JSON schema, for tests of structured output:
/// written from the JSON Schema rules (type, enum, const, properties, required,
/// additionalProperties, items, min/maxItems, min/maxLength, anyOf/oneOf, local `$ref`), not from
/// the grammar that generates, so a grammar bug shows as a problem here.
public enum JSONSchemaCheck {
    /// The problems of `value` against `schema` (empty: it validates).
    public static func problems(_ value: JSONValue, schema: JSONValue) -> [String] {
        var out: [String] = []
        check(value, schema, root: schema, path: "$", into: &out)
        return out
    }

    private static func check(
        _ value: JSONValue, _ schema: JSONValue, root: JSONValue, path: String, into out: inout [String]
    ) {
        if let ref = schema["$ref"]?.stringValue {
            var target = root
            for part in ref.split(separator: "/").dropFirst() { target = target[String(part)] ?? .null }
            check(value, target, root: root, path: path, into: &out)
            return
        }
        if let constant = schema["const"], constant != value { out.append("\(path): not the const") }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            out.append("\(path): \(value.rendered) not in enum")
        }
        for key in ["anyOf", "oneOf"] {
            if let members = schema[key]?.arrayValue {
                let passing = members.filter { problems(value, schema: $0, root: root).isEmpty }.count
                if key == "anyOf" ? passing == 0 : passing != 1 { out.append("\(path): \(key) matched \(passing)") }
            }
        }
        if let type = schema["type"] {
            let types = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            if !types.contains(where: { hasType(value, $0) }) { out.append("\(path): not of type \(types)") }
        }
        if let object = value.objectValue {
            let properties = schema["properties"]?.objectValue ?? []
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
            where !object.contains(where: { $0.0 == name }) {
                out.append("\(path): missing required '\(name)'")
            }
            var seen: Set<String> = []
            for (key, child) in object {
                if !seen.insert(key).inserted { out.append("\(path): duplicate key '\(key)'") }
                if let sub = properties.first(where: { $0.0 == key })?.1 {
                    check(child, sub, root: root, path: path + "." + key, into: &out)
                } else if schema["additionalProperties"]?.boolValue == false {
                    out.append("\(path): additional property '\(key)'")
                }
            }
        }
        if let array = value.arrayValue {
            if let min = schema["minItems"]?.intValue, array.count < min {
                out.append("\(path): fewer than \(min) items")
            }
            if let max = schema["maxItems"]?.intValue, array.count > max {
                out.append("\(path): more than \(max) items")
            }
            if let items = schema["items"] {
                for (i, item) in array.enumerated() {
                    check(item, items, root: root, path: "\(path)[\(i)]", into: &out)
                }
            }
        }
        if let text = value.stringValue {
            let count = text.unicodeScalars.count
            if let min = schema["minLength"]?.intValue, count < min { out.append("\(path): shorter than \(min)") }
            if let max = schema["maxLength"]?.intValue, count > max { out.append("\(path): longer than \(max)") }
        }
    }

    private static func problems(_ value: JSONValue, schema: JSONValue, root: JSONValue) -> [String] {
        var out: [String] = []
        check(value, schema, root: root, path: "$", into: &out)
        return out
    }

    private static func hasType(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null): true
        case ("boolean", .bool): true
        case ("string", .string): true
        case ("integer", .int), ("integer", .uint): true
        case ("number", .int), ("number", .uint), ("number", .double): true
        case ("array", .array): true
        case ("object", .object): true
        default: false
        }
    }
}
