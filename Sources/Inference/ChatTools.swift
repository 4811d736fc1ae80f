import GonkaCore

/// A function a chat request offers the model (`tools[i].function`).
public struct ChatFunction: Sendable, Hashable {
    public var name: String
    public var description: String?
    /// The JSON schema of the arguments (nil: any object).
    public var parameters: JSONValue?

    public init(name: String, description: String? = nil, parameters: JSONValue? = nil) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }

    /// As the tools block of the prompt lists it: `{"type": "function", "function": {…}}`.
    var json: JSONValue {
        var function: [(String, JSONValue)] = [("name", .string(name))]
        if let description { function.append(("description", .string(description))) }
        if let parameters { function.append(("parameters", parameters)) }
        return ["type": "function", "function": .object(function)]
    }
}

/// A tool call read from generated text: the function and its arguments as JSON text.
public struct ParsedToolCall: Sendable, Hashable {
    public var name: String
    public var arguments: String

    public init(name: String, arguments: String) {
        self.name = name
        self.arguments = arguments
    }
}

/// The Hermes-style text of a tool call and the internal `response_format` that forces one
/// (`{"type": "tool_call", "tools": [{"name", "parameters"}…]}`: what the sampler, the payload's
/// replay and `/v1/score`'s `sampling.response_format` carry; clients cannot send it).
public enum ToolCallFormat {
    public static let type = "tool_call"
    public static let open = "<tool_call>"
    public static let close = "</tool_call>"
    /// The text a call of `name` starts with; its arguments object follows.
    public static func prefix(name: String) -> String {
        "\(open)\n{\"name\": \(JSONText.quoted(name)), \"arguments\": "
    }
    /// The text after a call's arguments.
    public static let suffix = "}\n\(close)"
}

/// The tool fields of a chat request, read once (the ML node's chat route, the TA's request
/// summary and the validator's replay all call ``parse(_:)``, so they show the model the same
/// prompt and force the same constraint):
///
/// * `tools`: `[{"type": "function", "function": {"name", "description"?, "parameters"?}}]`, names
///   1–64 of `[A-Za-z0-9_-]`, unique; each `parameters` must compile (``OutputGrammar``);
/// * `tool_choice`: `none`, `auto` (default), `required`, or `{"type": "function", "function":
///   {"name"}}` naming one of the tools;
/// * `parallel_tool_calls`: a boolean (false keeps the first call of an `auto` answer);
/// * a constraining `response_format` (json_object, json_schema) with tools the model may call
///   conflicts: one answer cannot be both.
public struct ChatTools: Sendable, Hashable {
    public enum Choice: Sendable, Hashable {
        case none, auto, required
        case named(String)
    }

    public var functions: [ChatFunction]
    public var choice: Choice
    public var parallel: Bool

    /// Whether the model is shown the tools and its answer is read for calls.
    public var active: Bool { !functions.isEmpty && choice != .none }

    /// The tools of `request` (the chat body), nil when it offers none; throws naming the field.
    public static func parse(_ request: JSONValue) throws(ChatMessagesError) -> ChatTools? {
        var functions: [ChatFunction] = []
        if let tools = request["tools"], !tools.isNull {
            guard let list = tools.arrayValue else {
                throw ChatMessagesError("'tools' must be a list of tools.", param: "tools")
            }
            for (i, tool) in list.enumerated() {
                functions.append(try function(tool, at: "tools[\(i)]", known: functions))
            }
        }
        var choice = Choice.auto
        if let value = request["tool_choice"], !value.isNull {
            if let mode = value.stringValue {
                switch mode {
                case "none": choice = .none
                case "auto": choice = .auto
                case "required": choice = .required
                default:
                    throw ChatMessagesError(
                        "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": "
                            + "{\"name\": …}}; got '\(mode)'.", param: "tool_choice")
                }
            } else if let name = value["function"]?["name"]?.stringValue {
                if let type = value["type"], type.stringValue != "function" {
                    throw ChatMessagesError("'tool_choice.type' must be 'function'.", param: "tool_choice.type")
                }
                guard functions.contains(where: { $0.name == name }) else {
                    throw ChatMessagesError(
                        "'tool_choice' names function '\(name)', which is not in 'tools'.",
                        param: "tool_choice.function.name")
                }
                choice = .named(name)
            } else {
                throw ChatMessagesError(
                    "'tool_choice' must be a string or {\"type\": \"function\", \"function\": {\"name\": …}}.",
                    param: "tool_choice")
            }
        }
        if functions.isEmpty, choice == .required {
            throw ChatMessagesError("'tool_choice' 'required' needs a non-empty 'tools' list.", param: "tool_choice")
        }
        var parallel = true
        if let value = request["parallel_tool_calls"], !value.isNull {
            guard let flag = value.boolValue else {
                throw ChatMessagesError("'parallel_tool_calls' must be a boolean.", param: "parallel_tool_calls")
            }
            parallel = flag
        }
        guard !functions.isEmpty else { return nil }
        let tools = ChatTools(functions: functions, choice: choice, parallel: parallel)
        if tools.active, let format = request["response_format"], !format.isNull,
            let type = format["type"]?.stringValue, type != "text"
        {
            throw ChatMessagesError(
                "'response_format' \(type) conflicts with 'tools': the answer cannot be both a JSON document and"
                    + " a tool call; drop one, or set tool_choice to none.", param: "response_format")
        }
        return tools
    }

    static func function(
        _ tool: JSONValue, at: String, known: [ChatFunction]
    ) throws(ChatMessagesError) -> ChatFunction {
        guard tool.objectValue != nil else {
            throw ChatMessagesError("\(at) must be an object {\"type\": \"function\", \"function\": {…}}.", param: at)
        }
        if let type = tool["type"], type.stringValue != "function" {
            throw ChatMessagesError("\(at).type must be 'function'.", param: at + ".type")
        }
        guard let body = tool["function"], body.objectValue != nil else {
            throw ChatMessagesError("\(at).function must be an object with a 'name'.", param: at + ".function")
        }
        guard let name = body["name"]?.stringValue, (1...64).contains(name.utf8.count),
            name.utf8.allSatisfy({ b in
                (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x5F
                    || b == 0x2D
            })
        else {
            throw ChatMessagesError(
                "\(at).function.name must be 1–64 letters, digits, '_' or '-'.", param: at + ".function.name")
        }
        guard !known.contains(where: { $0.name == name }) else {
            throw ChatMessagesError("Function '\(name)' is defined twice in 'tools'.", param: at + ".function.name")
        }
        var function = ChatFunction(name: name)
        if let description = body["description"], !description.isNull {
            guard let text = description.stringValue else {
                throw ChatMessagesError(
                    "\(at).function.description must be a string.", param: at + ".function.description")
            }
            function.description = text
        }
        if let parameters = body["parameters"], !parameters.isNull {
            do {
                _ = try OutputGrammar.compile(schema: parameters, param: at + ".function.parameters")
            } catch {
                throw ChatMessagesError(error.message, param: error.param)
            }
            function.parameters = parameters
        }
        return function
    }

    // MARK: the prompt

    /// `messages` with the tools shown to the model in the system message (Hermes style, as
    /// Qwen2.5's template does), when the model may call them; unchanged otherwise.
    public func prompt(_ messages: [ChatMessage]) -> [ChatMessage] {
        guard active else { return messages }
        var out = messages
        if out.first?.role == "system" {
            out[0].content += "\n\n" + toolsBlock
        } else {
            out.insert(ChatMessage(role: "system", content: ChatTemplate.defaultSystem + "\n\n" + toolsBlock), at: 0)
        }
        return out
    }

    /// The functions the model may call now (all, or the named one).
    public var callable: [ChatFunction] {
        if case .named(let name) = choice { return functions.filter { $0.name == name } }
        return functions
    }

    var toolsBlock: String {
        var text = "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        text += "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
        for function in callable { text += "\n" + function.json.rendered }
        text += "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
        text += "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
        text += "<args-json-object>}\n</tool_call>"
        return text
    }

    // MARK: the constraint

    /// The internal `response_format` forcing a call (``ToolCallFormat``) when `tool_choice` is
    /// `required` or names a function; nil for `auto` and `none`.
    public var constraint: JSONValue? {
        switch choice {
        case .none, .auto: return nil
        case .required, .named:
            let tools: [JSONValue] = callable.map { function in
                var fields: [(String, JSONValue)] = [("name", .string(function.name))]
                if let parameters = function.parameters { fields.append(("parameters", parameters)) }
                return .object(fields)
            }
            return ["type": .string(ToolCallFormat.type), "tools": .array(tools)]
        }
    }

    // MARK: reading the answer

    /// The calls in generated `text` (`<tool_call>{"name", "arguments"}</tool_call>` blocks naming
    /// an offered function; the last block may lack its closing tag) and the text before the first
    /// one. No calls: `calls` is empty and `content` is the whole text. With `parallel` false only
    /// the first call is kept.
    public func calls(in text: String) -> (content: String, calls: [ParsedToolCall]) {
        let bytes = Array(text.utf8)
        let open = Array(ToolCallFormat.open.utf8)
        let close = Array(ToolCallFormat.close.utf8)
        guard active, let first = Self.find(open, in: bytes, from: 0) else { return (text, []) }
        var calls: [ParsedToolCall] = []
        var at = first
        while let start = Self.find(open, in: bytes, from: at) {
            let inner = start + open.count
            let end = Self.find(close, in: bytes, from: inner)
            let body = String(decoding: bytes[inner..<(end ?? bytes.count)], as: UTF8.self)
            guard let call = Self.call(body, offered: functions) else { return (text, []) }
            calls.append(call)
            guard let end else { break }
            at = end + close.count
        }
        let content = String(decoding: bytes[..<first], as: UTF8.self).trimmingWhitespace
        return (content, parallel ? calls : [calls[0]])
    }

    /// The first index at or after `from` where `needle` occurs in `bytes`.
    static func find(_ needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        var i = from
        while i + needle.count <= bytes.count {
            if bytes[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    static func call(_ inner: String, offered: [ChatFunction]) -> ParsedToolCall? {
        guard let object = try? JSONValue(parsing: inner.trimmingWhitespace), object.objectValue != nil,
            let name = object["name"]?.stringValue, offered.contains(where: { $0.name == name })
        else { return nil }
        switch object["arguments"] ?? object["parameters"] {
        case .none, .some(.null): return ParsedToolCall(name: name, arguments: "{}")
        case .some(let arguments):
            if arguments.objectValue != nil { return ParsedToolCall(name: name, arguments: arguments.rendered) }
            if let text = arguments.stringValue, (try? JSONValue(parsing: text))?.objectValue != nil {
                return ParsedToolCall(name: name, arguments: text)
            }
            return nil
        }
    }
}

extension String {
    /// Without leading and trailing whitespace.
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
