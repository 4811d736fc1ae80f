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
