import GonkaCore

/// A chat message as the template renders it: a role (`system`, `user`, `assistant`, `tool`), its
/// text, and for an assistant turn the tool calls it made, for a tool turn the call it answers.
public struct ChatMessage: Sendable, Hashable {
    public var role: String
    public var content: String
    /// OpenAI's participant `name` (kept; SmolLM2's template does not show it).
    public var name: String?
    /// Calls an assistant turn made.
    public var toolCalls: [ChatToolCall]
    /// The call a `tool` turn answers.
    public var toolCallID: String?

    public init(
        role: String, content: String, name: String? = nil, toolCalls: [ChatToolCall] = [], toolCallID: String? = nil
    ) {
        self.role = role
        self.content = content
        self.name = name
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    /// The OpenAI message object (what `POST /v1/tokenize` reads back as the same message).
    public var json: JSONValue {
        var fields: [(String, JSONValue)] = [("role", .string(role)), ("content", .string(content))]
        if let name { fields.append(("name", .string(name))) }
        if !toolCalls.isEmpty { fields.append(("tool_calls", .array(toolCalls.map(\.json)))) }
        if let toolCallID { fields.append(("tool_call_id", .string(toolCallID))) }
        return .object(fields)
    }
}

/// A function call in an assistant turn: its id, the function's name and its arguments (JSON text).
public struct ChatToolCall: Sendable, Hashable {
    public var id: String
    public var name: String
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    /// OpenAI's shape: `{"id", "type": "function", "function": {"name", "arguments"}}`.
    public var json: JSONValue {
        [
            "id": .string(id), "type": "function",
            "function": ["name": .string(name), "arguments": .string(arguments)],
        ]
    }
}

/// A `messages` array that cannot be run: the sentence for the client and the field at fault
/// (`messages[2].content[0].type`).
public struct ChatMessagesError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public let param: String

    public init(_ message: String, param: String) {
        self.message = message
        self.param = param
    }

    public var description: String { message }
}

/// The one reading of an OpenAI chat `messages` array (the ML node's chat and tokenize routes, the
/// TA's prompt count, the validator's replay all call it, so they render the same prompt):
///
/// * `content`: a string, or a list of parts whose `text` parts are joined with `\n` (vLLM's
///   rule); an `image_url`, `input_audio`, `file` or any other part is refused (the model reads text
///   only); null only for an assistant turn with tool calls (or an empty one);
/// * `role`: `system`, `user`, `assistant`, `tool`; `developer` is read as `system` (OpenAI's newer
///   name for it; SmolLM2's template has no such role);
/// * `name`: a string, kept;
/// * `tool_calls` (assistant only): `[{"id", "type": "function", "function": {"name", "arguments"}}]`,
///   ids unique in the conversation; `arguments` a string (an object is accepted and rendered);
/// * `tool_call_id` (tool turns, required): the id of a call made earlier in the conversation.
public enum ChatMessages {
    public static let roles: Set<String> = ["system", "user", "assistant", "developer", "tool"]

    /// The messages of `value` (the request's `messages`), or the first problem found.
    public static func parse(_ value: JSONValue?) throws(ChatMessagesError) -> [ChatMessage] {
        guard let list = value?.arrayValue else {
            throw ChatMessagesError("'messages' must be a non-empty array of message objects.", param: "messages")
        }
        guard !list.isEmpty else { throw ChatMessagesError("'messages' must not be empty.", param: "messages") }
        var messages: [ChatMessage] = []
        var callIDs: Set<String> = []
        for (i, item) in list.enumerated() {
            let at = "messages[\(i)]"
            guard item.objectValue != nil else {
                throw ChatMessagesError("\(at) must be an object with 'role' and 'content'.", param: at)
            }
            guard let role = item["role"]?.stringValue else {
                throw ChatMessagesError("\(at).role must be a string.", param: at + ".role")
            }
            guard roles.contains(role) else {
                throw ChatMessagesError(
                    "Unknown role '\(role)' in \(at); expected system, developer, user, assistant or tool.",
                    param: at + ".role")
            }
            var message = ChatMessage(role: role == "developer" ? "system" : role, content: "")
            if let name = item["name"], !name.isNull {
                guard let text = name.stringValue else {
                    throw ChatMessagesError("\(at).name must be a string.", param: at + ".name")
                }
                message.name = text
            }
            if let calls = item["tool_calls"], !calls.isNull {
                guard role == "assistant" else {
                    throw ChatMessagesError("Only assistant messages carry 'tool_calls'.", param: at + ".tool_calls")
                }
                message.toolCalls = try toolCalls(calls, at: at + ".tool_calls")
                for call in message.toolCalls {
                    guard callIDs.insert(call.id).inserted else {
                        throw ChatMessagesError(
                            "Tool call id '\(call.id)' appears twice in the conversation.", param: at + ".tool_calls")
                    }
                }
            }
            if role == "tool" {
                guard let id = item["tool_call_id"]?.stringValue else {
                    throw ChatMessagesError(
                        "A tool message needs 'tool_call_id' (the id of the call it answers).",
                        param: at + ".tool_call_id")
                }
                guard callIDs.contains(id) else {
                    throw ChatMessagesError(
                        "\(at).tool_call_id '\(id)' names no tool call of an earlier assistant message.",
                        param: at + ".tool_call_id")
                }
                message.toolCallID = id
            }
            let nullable = role == "assistant"
            message.content = try content(item["content"], at: at + ".content", nullable: nullable)
            messages.append(message)
        }
        return messages
    }

    /// A message's text: a string, or the `text` parts of a list joined with `\n`.
    static func content(_ value: JSONValue?, at: String, nullable: Bool) throws(ChatMessagesError) -> String {
        guard let value, !value.isNull else {
            if nullable { return "" }
            throw ChatMessagesError("Missing '\(at)': a string or a list of text parts.", param: at)
        }
        if let text = value.stringValue { return text }
        guard let parts = value.arrayValue else {
            throw ChatMessagesError("'\(at)' must be a string or a list of content parts.", param: at)
        }
        var texts: [String] = []
        for (j, part) in parts.enumerated() {
            let here = "\(at)[\(j)]"
            guard let type = part["type"]?.stringValue else {
                throw ChatMessagesError("\(here) needs a string 'type'.", param: here + ".type")
            }
            switch type {
            case "text", "input_text", "output_text":
                guard let text = part["text"]?.stringValue else {
                    throw ChatMessagesError("\(here) of type '\(type)' needs a string 'text'.", param: here + ".text")
                }
                texts.append(text)
            case "refusal":
                guard let text = part["refusal"]?.stringValue else {
                    throw ChatMessagesError("\(here) of type 'refusal' needs a string 'refusal'.", param: here)
                }
                texts.append(text)
            case "image_url", "input_image", "image":
                throw ChatMessagesError(
                    "This model has no vision: \(here) is an image ('\(type)'); send text parts only.",
                    param: here + ".type")
            default:
                throw ChatMessagesError(
                    "Content part type '\(type)' in \(here) is not supported: this model reads text only.",
                    param: here + ".type")
            }
        }
        return texts.joined(separator: "\n")
    }

    static func toolCalls(_ value: JSONValue, at: String) throws(ChatMessagesError) -> [ChatToolCall] {
        guard let list = value.arrayValue else {
            throw ChatMessagesError("'\(at)' must be a list of tool calls.", param: at)
        }
        var calls: [ChatToolCall] = []
        for (j, item) in list.enumerated() {
            let here = "\(at)[\(j)]"
            guard let id = item["id"]?.stringValue, !id.isEmpty else {
                throw ChatMessagesError("\(here) needs a non-empty string 'id'.", param: here + ".id")
            }
            if let type = item["type"], !type.isNull, type.stringValue != "function" {
                throw ChatMessagesError("\(here).type must be 'function'.", param: here + ".type")
            }
            guard let function = item["function"], let name = function["name"]?.stringValue, !name.isEmpty else {
                throw ChatMessagesError(
                    "\(here).function needs a non-empty string 'name'.", param: here + ".function.name")
            }
            let arguments: String
            switch function["arguments"] {
            case .none, .some(.null): arguments = "{}"
            case .some(let value):
                if let text = value.stringValue {
                    arguments = text
                } else if value.objectValue != nil {
                    arguments = value.rendered
                } else {
                    throw ChatMessagesError(
                        "\(here).function.arguments must be a JSON string.", param: here + ".function.arguments")
                }
            }
            calls.append(ChatToolCall(id: id, name: name, arguments: arguments))
        }
        return calls
    }
}
