import Foundation
import GonkaCore
import Testing

/// `JSONValue`: the parser against literal texts, rendering, equality and the `Codable` bridge.
struct JSONValueTests {
    @Test func aTextRendersBackAsItCame() throws {
        let text = #"{"id":"x","n":[1,-2,3.5,18446744073709551615,0.0],"o":{"b":true,"a":null},"s":"q\"\\\n"}"#
        #expect(try JSONValue(parsing: text).rendered == text)
    }

    @Test func integersAndFloatingNumbersStayApart() throws {
        let value = try JSONValue(parsing: "[1, 1.0, 1e3, -0, 9223372036854775808]")
        #expect(value == [.int(1), .double(1), .double(1000), .int(0), .uint(9_223_372_036_854_775_808)])
        #expect(value.arrayValue?.map(\.intValue) == [1, 1, 1000, 0, nil])
        #expect(JSONValue.int(1) == .uint(1))
        #expect(JSONValue.int(1) != .double(1))
    }

    @Test func escapesAndSurrogatePairsDecode() throws {
        let value = try JSONValue(parsing: #""a\/b\u00e9\ud83d\ude00\t""#)
        #expect(value == .string("a/bé😀\t"))
        #expect(value.rendered == "\"a/bé😀\\t\"")
    }

    @Test(arguments: ["", "01", "[1,]", "{\"a\" 1}", "1.", "-", "\"abc", "[1 2]", "tru", "\"\u{7}\"", "{} x"])
    func malformedTextIsRefused(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func deepNestingIsRefused() {
        let text = String(repeating: "[", count: JSONValue.maxDepth + 1) + String(repeating: "]", count: 513)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func objectsKeepOrderAndCompareWithout() throws {
        var value: JSONValue = ["b": 1, "a": 2]
        value["c"] = 3
        value["b"] = nil
        value["a"] = "x"
        #expect(value.rendered == #"{"a":"x","c":3}"#)
        #expect(value == ["c": 3, "a": "x"])
        #expect(value.rendered(sortedKeys: true) == #"{"a":"x","c":3}"#)
        #expect(try JSONValue(parsing: #"{"a":1,"a":2}"#) == ["a": 2])
    }

    @Test func codableValuesRoundTrip() throws {
        struct Record: Codable, Equatable {
            var height: UInt64
            var names: [String]
            var ratio: Double
        }
        let record = Record(height: 7, names: ["a"], ratio: 0.25)
        let value = try #require(JSONValue(encoding: record))
        #expect(value["height"] == 7)
        #expect(try value.decode(Record.self) == record)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"x":[1,2.5,"s",null,false]}"#.utf8))
        #expect(decoded == ["x": [1, 2.5, "s", .null, false]])
        #expect(try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(decoded)) == decoded)
    }
}
