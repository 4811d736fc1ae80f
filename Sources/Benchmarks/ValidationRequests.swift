import GonkaCore
import Inference

/// The deterministic request mix of `gonka bench validation`: varied chat-templated prompts with
/// greedy and sampled requests (temperature 0.7–1.3, with and without top-k, top-p and min-p) and
/// output limits from 1 to `maxTokens` (a share of very short ones), each with its own seed. The same
/// `seed` gives the same requests on every machine, so runs compare.
public struct ValidationRequests: Sendable {
    /// One request as the executor runs it.
    public struct Request: Sendable, Equatable {
        public var messages: [ChatMessage]
        public var parameters: SamplingParameters

        /// Greedy (temperature 0).
        public var isGreedy: Bool { parameters.temperature == 0 }
    }

    private var stream: PhiloxStream
    /// The largest output limit drawn.
    public let maxTokens: Int

    public init(seed: UInt64, maxTokens: Int) {
        stream = PhiloxStream(seedString: "gonka/bench/validation/requests/\(seed)")
        self.maxTokens = max(1, maxTokens)
    }

    /// The next request.
    public mutating func next() -> Request {
        let topic = pick(Self.topics)
        var text = pick(Self.tasks).replacing("{}", with: topic)
        if uniform() < 0.3 { text += " " + pick(Self.styles) }
        var messages: [ChatMessage] = []
        if uniform() < 0.3 { messages.append(ChatMessage(role: "system", content: pick(Self.systems))) }
        messages.append(ChatMessage(role: "user", content: text))
        if uniform() < 0.15 {
            // A second turn: the prompt grows and the assistant's earlier reply is in the context.
            messages.append(ChatMessage(role: "assistant", content: "Sure, \(topic) is a big subject."))
            messages.append(ChatMessage(role: "user", content: pick(Self.followUps)))
        }
        return Request(messages: messages, parameters: parameters())
    }

    /// Sampling: a quarter greedy; the rest temperature 0.7–1.3, plain or with one or more filters.
    mutating func parameters() -> SamplingParameters {
        var p = SamplingParameters(seed: stream.nextUInt64(), topLogprobs: 5)
        // A fifth of the requests are very short (1–4 tokens): a single position decides them.
        p.maxTokens = uniform() < 0.2 ? 1 + below(min(4, maxTokens)) : 1 + below(maxTokens)
        if uniform() < 0.25 {
            p.temperature = 0
            return p
        }
        p.temperature = 0.7 + 0.6 * uniform()
        switch below(6) {
        case 0: break
        case 1: p.topK = pick([5, 10, 20, 40, 100])
        case 2: p.topP = 0.8 + 0.18 * uniform()
        case 3: p.minP = 0.02 + 0.08 * uniform()
        case 4:
            p.topK = pick([20, 40, 50])
            p.topP = 0.9 + 0.08 * uniform()
        default:
            p.topK = 40
            p.topP = 0.95
            p.minP = 0.05
        }
        return p
    }

    private mutating func uniform() -> Float { stream.nextUniformFloat() }
    private mutating func below(_ n: Int) -> Int { Int(stream.nextUInt32() % UInt32(max(n, 1))) }
    private mutating func pick<T>(_ list: [T]) -> T { list[below(list.count)] }

    static let topics = [
        "the sea", "volcanoes", "the moon", "bread", "chess", "rainforests", "bicycles", "the Roman empire",
        "honeybees", "electricity", "coffee", "the piano", "glaciers", "photosynthesis", "trains", "owls",
        "the internet", "gravity", "mountains", "tea ceremonies", "deserts", "a lighthouse", "friendship",
        "recycling", "the human heart", "whales", "autumn", "clocks", "paper", "the Olympic games", "rivers",
        "prime numbers", "cats", "gardening", "thunderstorms", "the alphabet", "soap", "maps", "the sun",
        "a small village",
    ]
    static let tasks = [
        "Write a short poem about {}.", "Explain {} to a child.", "List three facts about {}.",
        "Summarize the history of {} in two sentences.", "Write a haiku about {}.",
        "What is the most surprising thing about {}?", "Give me a title for an essay on {}.",
        "Describe {} in one word.", "Tell a very short story about {}.", "Why do people care about {}?",
        "Answer yes or no: is {} older than a hundred years?", "Write one sentence about {}.",
        "Compare {} with the ocean.", "Give two tips for someone learning about {}.",
    ]
    static let styles = [
        "Be brief.", "Use simple words.", "Answer in French.", "Use a cheerful tone.", "Start with 'Well,'.",
    ]
    static let systems = [
        "You are a concise assistant.", "You are a poet who answers in verse.", "You are a careful teacher.",
        "You answer with exactly one sentence.",
    ]
    static let followUps = ["Tell me more.", "Why?", "Can you make it shorter?", "Give an example."]
}
