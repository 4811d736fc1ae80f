import GonkaCore
import Inference
import Testing

/// Tools on chat requests (issue 20 part 4): the one reading of `tools` / `tool_choice`, the tools
/// block of the prompt, the forced-call grammar and reading calls out of an answer.
struct ChatToolsTests {
    static let weather: JSONValue = [
        "type": "function",
        "function": [
            "name": "weather", "description": "The weather in a city.",
            "parameters": [
                "type": "object", "required": ["city", "unit"],
                "properties": ["city": ["type": "string", "maxLength": 20], "unit": ["enum": ["c", "f"]]],
            ],
        ],
    ]
    static let time: JSONValue = ["type": "function", "function": ["name": "time"]]

    static func request(_ choice: JSONValue? = nil, tools: [JSONValue] = [weather, time]) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("messages", [["role": "user", "content": "hi"]]), ("tools", .array(tools)),
        ]
        if let choice { fields.append(("tool_choice", choice)) }
        return .object(fields)
    }

    static func accepts(_ grammar: OutputGrammar, _ text: String) -> Bool {
        var state = grammar.start
        for b in text.utf8 where !state.feed(b, in: grammar) { return false }
        return state.isComplete(in: grammar)
    }

    @Test func choicesAndTheirConstraints() throws {
        let auto = try #require(try ChatTools.parse(Self.request()))
        #expect(auto.choice == .auto && auto.active && auto.constraint == nil && auto.parallel)
        let none = try #require(try ChatTools.parse(Self.request("none")))
        #expect(!none.active && none.prompt([ChatMessage(role: "user", content: "hi")]).count == 1)
        #expect(try ChatTools.parse(["messages": []]) == nil)

        let named = try #require(
            try ChatTools.parse(Self.request(["type": "function", "function": ["name": "weather"]])))
        let namedConstraint = try #require(named.constraint)
        let grammar = try #require(try OutputGrammar.compile(responseFormat: namedConstraint))
        #expect(
            Self.accepts(
                grammar,
                "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"c\"}}\n</tool_call>"
            ))
        // Another function, arguments outside the schema, a missing closing tag, free text first.
        #expect(!Self.accepts(grammar, "<tool_call>\n{\"name\": \"time\", \"arguments\": {}}\n</tool_call>"))
        #expect(
            !Self.accepts(
                grammar,
                "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"k\"}}\n</tool_call>"
            ))
        #expect(
            !Self.accepts(
                grammar, "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"c\"}}"))
        #expect(!Self.accepts(grammar, " <tool_call>\n{\"name\": \"weather\", \"arguments\": {}}\n</tool_call>"))
        #expect(
            !Self.accepts(
                grammar,
                "Sure. <tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"c\"}}\n</tool_call>"
            ))

        let required = try #require(try ChatTools.parse(Self.request("required")))
        let requiredConstraint = try #require(required.constraint)
        let either = try #require(try OutputGrammar.compile(responseFormat: requiredConstraint))
        #expect(
            Self.accepts(either, "<tool_call>\n{\"name\": \"time\", \"arguments\": {\"zone\": [1, {}]}}\n</tool_call>"))
        #expect(
            Self.accepts(
                either,
                "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"\", \"unit\": \"f\"}}\n</tool_call>"))
        #expect(!Self.accepts(either, "<tool_call>\n{\"name\": \"weather\", \"arguments\": {}}\n</tool_call>"))
        #expect(!Self.accepts(either, "<tool_call>\n{\"name\": \"tim\", \"arguments\": {}}\n</tool_call>"))
    }

    @Test func thePromptListsTheCallableTools() throws {
        let named = try #require(try ChatTools.parse(Self.request(["type": "function", "function": ["name": "time"]])))
        let messages = named.prompt([ChatMessage(role: "user", content: "hi")])
        #expect(messages.count == 2 && messages[0].role == "system")
        #expect(messages[0].content.hasPrefix(ChatTemplate.defaultSystem + "\n\n# Tools"))
        #expect(messages[0].content.contains(#"{"type":"function","function":{"name":"time"}}"#))
        #expect(!messages[0].content.contains("weather"))
        let withSystem = named.prompt([
            ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "hi"),
        ])
        #expect(withSystem.count == 2 && withSystem[0].content.hasPrefix("Be brief.\n\n# Tools"))
    }

    @Test func callsAreReadFromAnAnswer() throws {
        var tools = try #require(try ChatTools.parse(Self.request()))
        let two =
            "Let me check.\n<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n"
            + "<tool_call>{\"name\": \"time\", \"arguments\": \"{}\"}"
        let read = tools.calls(in: two)
        #expect(read.content == "Let me check.")
        #expect(
            read.calls == [
                ParsedToolCall(name: "weather", arguments: #"{"city":"Oslo"}"#),
                ParsedToolCall(name: "time", arguments: "{}"),
            ])
        tools.parallel = false
        #expect(tools.calls(in: two).calls.count == 1)
        // Not calls: plain text, an unknown function, JSON that does not parse.
        for text in [
            "It is sunny.", "<tool_call>{\"name\": \"rain\", \"arguments\": {}}</tool_call>",
            "<tool_call>{\"name\": \"weather\", \"arguments\": {</tool_call>",
        ] {
            let answer = tools.calls(in: text)
            #expect(answer.calls.isEmpty && answer.content == text)
        }
    }

    @Test(arguments: [
        (#"{"tools": {"a": 1}}"#, "tools"),
        (#"{"tools": [{"type": "retrieval", "function": {"name": "f"}}]}"#, "tools[0].type"),
        (#"{"tools": [{"type": "function", "function": {"name": ""}}]}"#, "tools[0].function.name"),
        (
            #"{"tools": [{"type": "function", "function": {"name": "f", "description": 3}}]}"#,
            "tools[0].function.description"
        ),
        (
            #"{"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}"#,
            "tools[0].function.parameters"
        ),
        (
            #"{"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "strin"}}}]}"#,
            "tools[0].function.parameters.type"
        ),
        (
            #"{"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}"#,
            "tool_choice.function.name"
        ),
        (#"{"tool_choice": "required"}"#, "tool_choice"),
        (#"{"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": 7}"#, "tool_choice"),
        (
            #"{"tools": [{"type": "function", "function": {"name": "f"}}], "response_format": {"type": "json_schema"}}"#,
            "response_format"
        ),
        (#"{"parallel_tool_calls": "yes"}"#, "parallel_tool_calls"),
    ])
    func badToolFieldsNameTheField(body: String, param: String) throws {
        #expect(throws: ChatMessagesError.self) { try ChatTools.parse(try JSONValue(parsing: body)) }
        do {
            _ = try ChatTools.parse(try JSONValue(parsing: body))
        } catch let error as ChatMessagesError {
            #expect(error.param == param, "\(error.message)")
        }
    }

    /// tool_choice none with a JSON response_format is no conflict: the model is not offered the tools.
    @Test func noneWithAResponseFormatIsAllowed() throws {
        let body =
            #"{"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none", "response_format": {"type": "json_object"}}"#
        let tools = try #require(try ChatTools.parse(try JSONValue(parsing: body)))
        #expect(!tools.active)
    }
}
