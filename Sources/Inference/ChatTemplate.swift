/// The ChatML template of SmolLM2 (the GGUF's `tokenizer.chat_template`): a default system message
/// when the conversation has none, each message as `<|im_start|>{role}\n{content}<|im_end|>\n`, and
/// `<|im_start|>assistant\n` to generate. Generation stops at `<|im_end|>`.
///
/// SmolLM2's template has no tool syntax; tool calls in the history are rendered the way
/// Hermes-style ChatML templates (Qwen2.5, NousHermes) do: each call as
/// `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>` after the assistant's text, and a tool
/// result as a `tool` turn wrapped in `<tool_response>…</tool_response>`.
public enum ChatTemplate {
    public static let defaultSystem = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    /// The prompt text for `messages`.
    public static func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var text = ""
        if let first = messages.first, first.role != "system" {
            text += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
        }
        for message in messages {
            text += "<|im_start|>\(message.role)\n\(body(of: message))<|im_end|>\n"
        }
        if addGenerationPrompt { text += "<|im_start|>assistant\n" }
        return text
    }

    /// A message's text as the template shows it: the content, then its tool calls; a tool result
    /// wrapped in `<tool_response>`.
    static func body(of message: ChatMessage) -> String {
        if message.role == "tool" { return "<tool_response>\n\(message.content)\n</tool_response>" }
        var text = message.content
        for call in message.toolCalls {
            if !text.isEmpty { text += "\n" }
            text += "<tool_call>\n\(toolCallJSON(call))\n</tool_call>"
        }
        return text
    }

    /// `{"name": NAME, "arguments": ARGS}`: the arguments as given when they are a JSON object
    /// (what a model emits), else as a JSON string.
    public static func toolCallJSON(_ call: ChatToolCall) -> String {
        let trimmed = call.arguments.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()
        let text = String(trimmed)
        let arguments = text.hasPrefix("{") && text.hasSuffix("}") ? text : JSONText.quoted(call.arguments)
        return "{\"name\": \(JSONText.quoted(call.name)), \"arguments\": \(arguments)}"
    }
}

/// JSON text helpers that need no Foundation encoder.
public enum JSONText {
    /// `s` as a JSON string literal (quotes, backslash and control characters escaped).
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
