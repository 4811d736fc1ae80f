/// A chat message: a role (`system`, `user`, `assistant`, …) and its text.
public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The ChatML template of SmolLM2 (the GGUF's `tokenizer.chat_template`): a default system message
/// when the conversation has none, each message as `<|im_start|>{role}\n{content}<|im_end|>\n`, and
/// `<|im_start|>assistant\n` to generate. Generation stops at `<|im_end|>`.
public enum ChatTemplate {
    public static let defaultSystem = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    /// The prompt text for `messages`.
    public static func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var text = ""
        if let first = messages.first, first.role != "system" {
            text += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
        }
        for message in messages {
            text += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
        }
        if addGenerationPrompt { text += "<|im_start|>assistant\n" }
        return text
    }
}
