import Inference
import Testing

struct TokenizerTests {
    static let golden = TokenizerGolden.load()

    @Test(arguments: golden?.cases ?? [])
    func goldenEncodesAndDecodes(_ golden: TokenizerGolden.Case) throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let ids = model.tokenizer.encode(golden.text)
        #expect(ids == golden.ids, "text \(golden.text.debugDescription)")
        #expect(try model.tokenizer.decode(golden.ids) == golden.text)
    }

    @Test func goldenFileIsPresent() {
        #expect((Self.golden?.cases.count ?? 0) >= 6)
    }

    @Test func specialTokensCanBeLeftAsText() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let ids = model.tokenizer.encode("<|im_end|>", parseSpecial: false)
        #expect(!ids.contains(2))
        #expect(try model.tokenizer.decode(ids) == "<|im_end|>")
    }

    /// Every byte with a byte token encodes to it (alone, no merge can apply); the 21 bytes SmolLM2's
    /// vocabulary lacks are dropped, never encoded as id 0 (`<|endoftext|>`).
    @Test func everyByteHasItsTokenOrIsDropped() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let tokenizer = model.tokenizer
        let missing: Set<UInt8> = [
            0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC,
            0xFD, 0xFE, 0xFF,
        ]
        for byte in UInt8(0)..<0x80 {
            let ids = tokenizer.encode(String(decoding: [byte], as: UTF8.self))
            if missing.contains(byte) {
                #expect(ids.isEmpty, "byte \(byte)")
            } else {
                #expect(ids.count == 1 && tokenizer.bytes(of: ids[0]) == [byte], "byte \(byte): \(ids)")
            }
        }
        // Control characters inside text: dropped, the rest intact, no end-of-text injected.
        let text = "a\u{04}b\u{1D}c \u{13}"
        let ids = tokenizer.encode(text)
        #expect(!ids.contains(tokenizer.endOfText))
        #expect(try tokenizer.decode(ids) == "abc ")
        // U+40000 is F1 80 80 80: the lead byte is dropped, the continuation bytes keep their tokens.
        let plane4 = tokenizer.encode("x\u{40000}y")
        #expect(!plane4.contains(tokenizer.endOfText))
        #expect(plane4.flatMap { tokenizer.bytes(of: $0) } == [0x78, 0x80, 0x80, 0x80, 0x79])
    }

    @Test func roundTripsAssortedText() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        for text in ["", " ", "\n\n\n", "a\u{0}b", "Ünïcödé\t\t  x  ", "1234567890", "emoji 👩‍👩‍👧 ok", "'''s'S"] {
            #expect(try model.tokenizer.decode(model.tokenizer.encode(text)) == text)
        }
    }

    @Test func decodeRejectsOutOfVocabularyIDs() throws {
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        #expect(throws: InferenceError.tokenOutOfVocabulary(id: 49_152, position: 1, vocabularySize: 49_152)) {
            try model.tokenizer.decode([5, 49_152])
        }
        #expect(throws: InferenceError.self) { try model.tokenizer.decode([-1]) }
    }

    @Test func chatTemplateMatchesChatML() throws {
        let text = ChatTemplate.render([ChatMessage(role: "user", content: "Hi")])
        #expect(
            text
                == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        let withSystem = ChatTemplate.render(
            [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "U")],
            addGenerationPrompt: false)
        #expect(withSystem == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n")
        let model = try #require(TestModel.model, "\(TestModel.problem)")
        let ids = model.tokenizer.encode(text)
        #expect(ids.first == 1)
        #expect(ids.filter { $0 == 1 }.count == 3)
        #expect(ids.filter { $0 == 2 }.count == 2)
        #expect(ids.last == 198)
    }
}
