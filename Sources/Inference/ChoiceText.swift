/// One choice's text as its tokens arrive: the tokens' bytes, cut before the first stop string,
/// handed out as complete UTF-8 only (the bytes of a split character wait for the next token).
///
/// The one home of "stop strings and the text of a choice": ``ChoiceDecoder`` feeds it the tokens it
/// draws, the ML node's remote backend the tokens an upstream engine reports, so both end a choice
/// on the same token and report the same text.
public struct ChoiceText: Sendable {
    private let tokenizer: Tokenizer
    private let stop: [String]
    private var bytes: [UInt8] = []
    /// Bytes of `bytes` already handed out.
    private var emitted = 0

    public init(tokenizer: Tokenizer, stop: [String]) {
        self.tokenizer = tokenizer
        self.stop = stop
    }

    /// Adds token `id`'s bytes; returns the new complete text and whether a stop string ended the
    /// choice with it (the text then stops before the stop string; the token still counts).
    public mutating func append(_ id: Int) -> (piece: String, stopped: Bool) {
        bytes.append(contentsOf: tokenizer.bytes(of: id))
        var text = String(decoding: bytes, as: UTF8.self)
        var stopped = false
        for stop in stop {
            if let range = text.firstRange(of: stop) {
                text = String(text[..<range.lowerBound])
                stopped = true
            }
        }
        if stopped { bytes = Array(text.utf8) }
        let complete = LlamaSession.completeUTF8Prefix(bytes)
        let piece = complete > emitted ? String(decoding: bytes[emitted..<complete], as: UTF8.self) : ""
        emitted = max(emitted, complete)
        return (piece, stopped)
    }

    /// The whole text so far (a split character at the end shows as U+FFFD).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Whether `bytes` end inside a UTF-8 character (a token such as the first byte of an emoji).
    public static func endsInsideCharacter(_ bytes: [UInt8]) -> Bool {
        LlamaSession.completeUTF8Prefix(bytes) < bytes.count
    }
}
