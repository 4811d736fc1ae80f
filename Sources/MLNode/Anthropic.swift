import GonkaCore

/// Anthropic's Messages API (`POST /v1/messages`), served by translating a request ONCE into the
/// OpenAI chat body every node already runs (``chatRequest(_:)``) and the chat answer back
/// (``AnthropicTranslation``). The ML node, the API node (gateway mode) and `gonka proxy` all call
/// these; the network, the payload and the validator see only the chat request.
public enum Anthropic {
    /// A request the translation refuses: the sentence and the Anthropic field at fault.
    public struct RequestError: Error, Hashable, Sendable, CustomStringConvertible {
        public let message: String
        public let param: String?

        public init(_ message: String, param: String?) {
            self.message = message
            self.param = param
        }

        public var description: String { message }
    }

    /// The OpenAI chat body for an Anthropic Messages body:
    ///
    /// * `system` (a string or text blocks) → a first `system` message;
    /// * `messages[]` (`user` / `assistant`, content a string or blocks): `text` blocks → content
    ///   parts; `image` / `document` blocks → an `image_url` part (refused as "no vision" by the chat
    ///   reading); an assistant's `tool_use` blocks → `tool_calls` (`input` as the arguments); a user's
    ///   `tool_result` blocks → `tool` messages (before the turn's text), each naming an earlier
    ///   `tool_use` id;
    /// * `max_tokens` (required), `temperature`, `top_p`, `top_k`, `stop_sequences` → `stop`, `stream`
    ///   (with usage: Anthropic's stream reports it), `metadata.user_id` → `user`;
    /// * `tools[]` `{name, description, input_schema}` → functions; `tool_choice` `auto` / `any` (→
    ///   `required`) / `tool` (→ that function) / `none`, `disable_parallel_tool_use` →
    ///   `parallel_tool_calls: false`.
    public static func chatRequest(_ body: [UInt8]) throws(RequestError) -> [UInt8] {
        guard let object = try? JSONValue(parsing: body), object.objectValue != nil else {
            throw RequestError("The request body is not a JSON object.", param: nil)
        }
        var out: [(String, JSONValue)] = []
        guard let model = object["model"]?.stringValue else {
            throw RequestError("model: Field required (a string).", param: "model")
        }
        out.append(("model", .string(model)))
        guard let maxTokens = object["max_tokens"]?.intValue, maxTokens >= 1 else {
            throw RequestError("max_tokens: Field required (a positive integer).", param: "max_tokens")
        }
        out.append(("max_tokens", .int(Int64(maxTokens))))
        var messages: [JSONValue] = []
        if let system = object["system"], !system.isNull {
            messages.append(["role": "system", "content": .string(try text(system, at: "system"))])
        }
        guard let list = object["messages"]?.arrayValue, !list.isEmpty else {
            throw RequestError("messages: a non-empty list of messages is required.", param: "messages")
        }
        var toolUseIDs: Set<String> = []
        for (i, message) in list.enumerated() {
            messages += try translate(message, at: "messages[\(i)]", toolUseIDs: &toolUseIDs)
        }
        out.append(("messages", .array(messages)))
        for key in ["temperature", "top_p"] {
            if let value = object[key], !value.isNull {
                guard value.doubleValue != nil || value.intValue != nil else {
                    throw RequestError("\(key): must be a number.", param: key)
                }
                out.append((key, value))
            }
        }
        if let value = object["top_k"], !value.isNull {
            guard value.intValue != nil else { throw RequestError("top_k: must be an integer.", param: "top_k") }
            out.append(("top_k", value))
        }
        if let value = object["stop_sequences"], !value.isNull {
            guard let stops = value.arrayValue, stops.allSatisfy({ $0.stringValue != nil }) else {
                throw RequestError("stop_sequences: must be a list of strings.", param: "stop_sequences")
            }
            out.append(("stop", .array(stops)))
        }
        if let value = object["stream"], !value.isNull {
            guard let stream = value.boolValue else {
                throw RequestError("stream: must be a boolean.", param: "stream")
            }
            out.append(("stream", .bool(stream)))
            if stream { out.append(("stream_options", ["include_usage": true])) }
        }
        if let user = object["metadata"]?["user_id"]?.stringValue { out.append(("user", .string(user))) }
        if let tools = object["tools"], !tools.isNull {
            guard let list = tools.arrayValue else { throw RequestError("tools: must be a list.", param: "tools") }
            var functions: [JSONValue] = []
            for (i, tool) in list.enumerated() {
                guard let name = tool["name"]?.stringValue else {
                    throw RequestError("tools.\(i).name: Field required.", param: "tools[\(i)].name")
                }
                var function: [(String, JSONValue)] = [("name", .string(name))]
                if let description = tool["description"], !description.isNull {
                    function.append(("description", description))
                }
                if let schema = tool["input_schema"], !schema.isNull { function.append(("parameters", schema)) }
                functions.append(["type": "function", "function": .object(function)])
            }
            out.append(("tools", .array(functions)))
        }
        if let choice = object["tool_choice"], !choice.isNull {
            guard let type = choice["type"]?.stringValue else {
                throw RequestError("tool_choice: must be an object with a 'type'.", param: "tool_choice")
            }
            switch type {
            case "auto": out.append(("tool_choice", "auto"))
            case "any": out.append(("tool_choice", "required"))
            case "none": out.append(("tool_choice", "none"))
            case "tool":
                guard let name = choice["name"]?.stringValue else {
                    throw RequestError("tool_choice.name: Field required for type 'tool'.", param: "tool_choice.name")
                }
                out.append(("tool_choice", ["type": "function", "function": ["name": .string(name)]]))
            default:
                throw RequestError(
                    "tool_choice.type: must be auto, any, tool or none; got '\(type)'.", param: "tool_choice.type")
            }
            if choice["disable_parallel_tool_use"]?.boolValue == true { out.append(("parallel_tool_calls", false)) }
        }
        return JSONValue.object(out).bytes()
    }

    /// A `system` or `tool_result` content: a string, or text blocks joined with `\n`.
    static func text(_ value: JSONValue, at: String) throws(RequestError) -> String {
        if let text = value.stringValue { return text }
        guard let blocks = value.arrayValue else {
            throw RequestError("\(at): must be a string or a list of text blocks.", param: at)
        }
        var texts: [String] = []
        for (j, block) in blocks.enumerated() {
            guard block["type"]?.stringValue == "text", let text = block["text"]?.stringValue else {
                throw RequestError("\(at).\(j): only text blocks are supported here.", param: "\(at)[\(j)]")
            }
            texts.append(text)
        }
        return texts.joined(separator: "\n")
    }

    /// One Anthropic message as OpenAI messages (a user turn with tool results becomes the `tool`
    /// messages, then the user's text if any).
    static func translate(
        _ message: JSONValue, at: String, toolUseIDs: inout Set<String>
    ) throws(RequestError) -> [JSONValue] {
        guard let role = message["role"]?.stringValue, role == "user" || role == "assistant" else {
            throw RequestError("\(at).role: must be 'user' or 'assistant'.", param: at + ".role")
        }
        guard let content = message["content"] else {
            throw RequestError("\(at).content: Field required.", param: at + ".content")
        }
        if let text = content.stringValue { return [["role": .string(role), "content": .string(text)]] }
        guard let blocks = content.arrayValue else {
            throw RequestError("\(at).content: must be a string or a list of blocks.", param: at + ".content")
        }
        var parts: [JSONValue] = []
        var calls: [JSONValue] = []
        var results: [JSONValue] = []
        for (j, block) in blocks.enumerated() {
            let here = "\(at).content[\(j)]"
            guard let type = block["type"]?.stringValue else {
                throw RequestError("\(here).type: Field required.", param: here + ".type")
            }
            switch type {
            case "text":
                guard let text = block["text"]?.stringValue else {
                    throw RequestError("\(here).text: Field required.", param: here + ".text")
                }
                parts.append(["type": "text", "text": .string(text)])
            case "image", "document":
                // The chat reading refuses it, naming the model's lack of vision.
                parts.append(["type": "image_url", "image_url": ["url": "data:"]])
            case "tool_use" where role == "assistant":
                guard let id = block["id"]?.stringValue, let name = block["name"]?.stringValue else {
                    throw RequestError("\(here): a tool_use block needs 'id' and 'name'.", param: here)
                }
                toolUseIDs.insert(id)
                let input = block["input"] ?? [:]
                calls.append([
                    "id": .string(id), "type": "function",
                    "function": ["name": .string(name), "arguments": .string(input.rendered)],
                ])
            case "tool_result" where role == "user":
                guard let id = block["tool_use_id"]?.stringValue else {
                    throw RequestError("\(here).tool_use_id: Field required.", param: here + ".tool_use_id")
                }
                guard toolUseIDs.contains(id) else {
                    throw RequestError(
                        "\(here).tool_use_id: '\(id)' names no tool_use block of an earlier assistant message.",
                        param: here + ".tool_use_id")
                }
                var text = ""
                if let value = block["content"], !value.isNull { text = try Self.text(value, at: here + ".content") }
                if block["is_error"]?.boolValue == true { text = "Error: " + text }
                results.append(["role": "tool", "tool_call_id": .string(id), "content": .string(text)])
            default:
                throw RequestError(
                    "\(here).type: '\(type)' is not supported in a \(role) message.", param: here + ".type")
            }
        }
        if role == "assistant" {
            var fields: [(String, JSONValue)] = [("role", "assistant")]
            fields.append(("content", parts.isEmpty ? .null : .array(parts)))
            if !calls.isEmpty { fields.append(("tool_calls", .array(calls))) }
            return [.object(fields)]
        }
        if parts.isEmpty && results.isEmpty {
            throw RequestError("\(at).content: must not be empty.", param: at + ".content")
        }
        return results + (parts.isEmpty ? [] : [["role": "user", "content": .array(parts)]])
    }
}
