import APINode
import ArgumentParser
import AsyncHTTPClient
import Foundation
import GonkaCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Storage

/// `gonka chat`
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with an OpenAI-compatible server (a gonka ML node or API node), streaming the answers.",
        discussion: """
            Reads one message per line from standard input (a terminal or a pipe) and streams the answer; the conversation is kept across turns. `/exit` or end of input quits, `/reset` forgets the conversation.
            """
    )

    @Option(help: "The server's base URL, e.g. http://127.0.0.1:8080.") var url: String
    @Option(help: "The model id (default: the first one the server lists).") var model: String?
    @Option(help: "A system message opening the conversation.") var system: String?
    @Option(help: "Sampling temperature (0: greedy).") var temperature: Double?
    @Option(help: "Most tokens per answer.") var maxTokens: Int?
    @Option(help: "Seed of the sampler.") var seed: Int?
    @Flag(help: "--url is a gonka API node: sign each request with --key (through the network, paid by its account).")
    var viaNetwork = false
    @Option(help: "With --via-network: the signing key's name under HOME/keys/.") var key: String?
    @OptionGroup var home: HomeOptions

    func validate() throws {
        guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil
        else { throw ValidationError("--url must be an http(s) URL such as http://127.0.0.1:8080") }
        if let temperature, !(0...2).contains(temperature) { throw ValidationError("--temperature must be in 0…2") }
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if viaNetwork, key == nil { throw ValidationError("--via-network needs --key NAME") }
    }

    /// With --via-network: the in-process signing proxy's URL the chat talks to instead of --url.
    @TaskLocal static var proxyBase: String?

    var base: String { Self.proxyBase ?? (url.hasSuffix("/") ? String(url.dropLast()) : url) }

    func run() async throws {
        guard viaNetwork, let key else { return try await chat() }
        let signing: SigningKeyBox
        do {
            signing = SigningKeyBox(key: try KeyStore(home: home.url).load(key))
        } catch {
            throw CLIError("cannot load key \"\(key)\" from \(home.url.path): \(error)")
        }
        var logger = Logger(label: "gonka.chat")
        logger.logLevel = .warning
        let proxy = SigningProxy(key: signing.key, nodes: [url], logger: logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = proxy.application(port: 0) { port in continuation.yield(port) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            try await Self.$proxyBase.withValue("http://127.0.0.1:\(port)") { try await chat() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    func chat() async throws {
        let client = HTTPClient.shared
        let modelID: String
        if let model { modelID = model } else { modelID = try await firstModel(client) }
        let interactive = isatty(0) == 1
        if interactive { say("chatting with \(modelID) at \(base); /exit quits, /reset starts over") }
        var history: [[String: String]] = system.map { [["role": "system", "content": $0]] } ?? []
        while true {
            if interactive { FileHandle.standardOutput.write(Data("> ".utf8)) }
            guard let line = readLine(strippingNewline: true) else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/exit" || text == "/quit" { break }
            if text == "/reset" {
                history = system.map { [["role": "system", "content": $0]] } ?? []
                continue
            }
            history.append(["role": "user", "content": text])
            do {
                let answer = try await stream(client, model: modelID, messages: history)
                history.append(["role": "assistant", "content": answer])
                say("")
            } catch {
                history.removeLast()
                FileHandle.standardError.write(Data("\nerror: \(error)\n".utf8))
            }
        }
    }

    func firstModel(_ client: HTTPClient) async throws -> String {
        let response = try await client.execute(HTTPClientRequest(url: base + "/v1/models"), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        struct Models: Decodable {
            struct Entry: Decodable { let id: String }
            let data: [Entry]
        }
        guard response.status == .ok,
            let first = try? JSONDecoder().decode(Models.self, from: Data(body.readableBytesView)).data.first
        else { throw CLIError("\(base)/v1/models gave no model (status \(response.status.code))") }
        return first.id
    }

    /// Sends the conversation, prints the answer as it streams, and returns it.
    func stream(_ client: HTTPClient, model: String, messages: [[String: String]]) async throws -> String {
        var payload: JSONValue = [
            "model": .string(model),
            "messages": .array(
                messages.map { .object($0.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }) }),
            "stream": true,
        ]
        if let temperature { payload["temperature"] = .double(temperature) }
        if let maxTokens { payload["max_tokens"] = JSONValue(maxTokens) }
        if let seed { payload["seed"] = JSONValue(seed) }
        var request = HTTPClientRequest(url: base + "/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: payload.bytes()))
        let response = try await client.execute(request, timeout: .seconds(600))
        guard response.status == .ok else {
            let body = try await response.body.collect(upTo: 1 << 20)
            throw CLIError("status \(response.status.code): \(Self.errorMessage(Data(body.readableBytesView)))")
        }
        var answer = ""
        var pending: [UInt8] = []
        for try await buffer in response.body {
            pending.append(contentsOf: buffer.readableBytesView)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                guard line.hasPrefix("data: ") else { continue }
                let data = line.dropFirst(6)
                if data == "[DONE]" { return answer }
                guard let object = try? JSONValue(parsing: data.utf8), object.objectValue != nil else { continue }
                if let error = object["error"], error.objectValue != nil {
                    throw CLIError("\(error["message"]?.stringValue ?? "the server failed")")
                }
                if let content = object["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue {
                    answer += content
                    FileHandle.standardOutput.write(Data(content.utf8))  // as it arrives
                }
            }
        }
        return answer
    }

    static func errorMessage(_ body: Data) -> String {
        if let message = (try? JSONValue(parsing: body))?["error"]?["message"]?.stringValue { return message }
        return String(decoding: body, as: UTF8.self)
    }
}
