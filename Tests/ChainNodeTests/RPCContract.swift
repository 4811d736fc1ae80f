import Foundation
import GonkaClient
import GonkaCore
import Testing

/// The chain RPC's answers against the client's types (`ChainRPCTypes`), route by route: each raw
/// answer decodes into the type `GonkaClient` reads it as, and the type, encoded again, has exactly
/// the answer's fields and values. A field renamed on one side only (even one the client decodes with a
/// default) fails here, so the node and its clients cannot drift apart.
enum RPCContract {
    /// One route and the client type of its answer (of the query's `value` when `query` is true).
    struct Route {
        let path: String
        let check: (JSONValue) throws -> JSONValue?

        init<T: Codable>(_ path: String, _ type: T.Type) {
            self.path = path
            check = { answer in
                let value = path.hasPrefix("/query/") ? answer["value"] ?? .null : answer
                return JSONValue(encoding: try value.decode(T.self))
            }
        }
    }

    /// Every field path of a value: `a.b`, array elements as `a[].b`.
    static func fieldPaths(_ value: JSONValue, prefix: String = "") -> Set<String> {
        switch value {
        case .object(let fields):
            var out: Set<String> = []
            for (key, child) in fields {
                let path = prefix.isEmpty ? key : prefix + "." + key
                out.insert(path)
                out.formUnion(fieldPaths(child, prefix: path))
            }
            return out
        case .array(let items):
            return items.reduce(into: []) { $0.formUnion(fieldPaths($1, prefix: prefix + "[]")) }
        default:
            return []
        }
    }

    /// Fetches each route and records an issue for each that does not match its type.
    static func check(_ client: ChainClient, _ routes: [Route]) async throws {
        for route in routes {
            let (status, body) = try await client.rawGET(route.path)
            #expect(status == 200, "\(route.path): HTTP \(status)")
            guard status == 200 else { continue }
            let answer = try JSONValue(parsing: body)
            let value = route.path.hasPrefix("/query/") ? answer["value"] ?? .null : answer
            #expect(!value.isNull, "\(route.path): no value to compare")
            do {
                let typed = try #require(try route.check(answer), "\(route.path): the type does not encode")
                let (sent, read) = (fieldPaths(value), fieldPaths(typed))
                #expect(
                    sent == read,
                    "\(route.path): only sent \(sent.subtracting(read).sorted()), only read \(read.subtracting(sent).sorted())"
                )
                #expect(sent != read || value == typed, "\(route.path): a value reads back differently")
            } catch {
                Issue.record("\(route.path): the answer does not decode: \(error)")
            }
        }
    }
}

/// The field-path comparison itself, on literal answers.
struct RPCContractTests {
    @Test func aRenamedFieldIsCaught() throws {
        let answer: JSONValue = ["address": "a", "reported": 1, "expired": 0, "total": 1, "last_height": 3]
        let renamed: JSONValue = ["address": "a", "reported": 1, "expired": 0, "total": 1, "lastHeight": 3]
        #expect(RPCContract.fieldPaths(answer) != RPCContract.fieldPaths(renamed))
        #expect(
            RPCContract.fieldPaths(["a": [["b": 1], ["c": .null]]]) == ["a", "a[].b", "a[].c"])
    }
}
