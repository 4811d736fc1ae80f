import ChainNode
import Foundation
import GonkaCore
import GonkaTestKit
import Hummingbird
import HummingbirdTesting
import Testing

/// The chain RPC of a running single-validator node, through its router.
@Suite(.serialized, .hangGuard) struct RPCTests {
    static func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        let data = Data(buffer.readableBytesView)
        return try #require(
            try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(String(decoding: data, as: UTF8.self))")
    }

    static func errorCode(_ buffer: ByteBuffer) throws -> String? {
        (try object(buffer)["error"] as? [String: Any])?["code"] as? String
    }

    @Test(.timeLimit(.minutes(3))) func routesAndBadInput() async throws {
        let net = try TestNetwork(validators: 1)
        defer { net.cleanup() }
        let running = try await RunningNode(home: net.homes[0], name: "rpc")
        do {
            #expect(await eventually { running.height >= 2 })
            let app = Application(router: ChainRPC.router(running.node.rpcDependencies))
            let wallet = net.wallet
            let tx = try wallet.send(from: 0, to: 1, amount: 777)
            let second = try wallet.send(from: 0, to: 1, amount: 1)
            let third = try wallet.send(from: 0, to: 1, amount: 2)
            let fourth = try wallet.send(from: 0, to: 1, amount: 3)
            let address = wallet.address(1)
            try await app.test(.router) { client in
                // Status.
                try await client.execute(uri: "/status", method: .get) { response in
                    #expect(response.status == .ok)
                    let status = try Self.object(response.body)
                    #expect(status["chain_id"] as? String == TestChain.chainID)
                    #expect((status["height"] as? Int ?? 0) >= 2)
                    #expect((status["app_hash"] as? String)?.count == 64)
                    #expect((status["validator"] as? [String: Any])?["power"] as? Int == 10)
                    #expect((status["consensus"] as? [String: Any])?["step"] is String)
                }
                // A bank send in commit mode, as JSON with base64.
                let body = ByteBuffer(string: "{\"tx\":\"\(Data(tx).base64EncodedString())\"}")
                var committedHeight = 0
                try await client.execute(
                    uri: "/tx?mode=commit", method: .post, headers: [.contentType: "application/json"], body: body
                ) { response in
                    #expect(response.status == .ok)
                    let result = try Self.object(response.body)
                    #expect(result["hash"] as? String == Hash.sha256(tx).hex)
                    #expect(result["code"] as? Int == 0)
                    committedHeight = result["height"] as? Int ?? 0
                }
                #expect(committedHeight > 0)
                try await client.execute(uri: "/tx/\(Hash.sha256(tx).hex)", method: .get) { response in
                    #expect(response.status == .ok)
                    let result = try Self.object(response.body)
                    #expect(result["height"] as? Int == committedHeight)
                    let events = result["events"] as? [[String: Any]] ?? []
                    #expect(events.contains { $0["type"] as? String == "transfer" })
                }
                try await client.execute(uri: "/block/\(committedHeight)", method: .get) { response in
                    #expect(response.status == .ok)
                    let block = try Self.object(response.body)
                    #expect(block["num_txs"] as? Int == 1)
                    let commit = block["commit"] as? [String: Any]
                    #expect((commit?["signers"] as? [String])?.count == 1)
                }
                // Raw bytes in sync mode: the next tx of the same sender.
                try await client.execute(
                    uri: "/tx", method: .post, headers: [.contentType: "application/octet-stream"],
                    body: ByteBuffer(bytes: second)
                ) { response in
                    #expect(response.status == .ok)
                    let result = try Self.object(response.body)
                    #expect(result["hash"] as? String == Hash.sha256(second).hex)
                }
                // A batch: checked in order, one result each; a refused tx does not stop the
                // others (an undecodable one here), and an already pending one is a duplicate.
                let batch = [second, third, [1, 2, 3], fourth].map { Data($0).base64EncodedString() }
                try await client.execute(
                    uri: "/txs", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: "{\"txs\":[\"\(batch.joined(separator: "\",\""))\"]}")
                ) { response in
                    #expect(response.status == .ok)
                    let results = try Self.object(response.body)["results"] as? [[String: Any]] ?? []
                    #expect(results.count == 4)
                    #expect(results.map { $0["code"] as? Int } == [0, 0, 1, 0])
                    #expect(results[1]["hash"] as? String == Hash.sha256(third).hex)
                    #expect(results[2]["error"] as? String == "undecodable")
                }
                // Queries with proofs.
                try await client.execute(uri: "/query/balance/\(address)", method: .get) { response in
                    #expect(response.status == .ok)
                    let result = try Self.object(response.body)
                    let value = result["value"] as? [String: Any]
                    #expect(value?["address"] as? String == address.description)
                    #expect((value?["amount"] as? String)?.hasSuffix("ngonka") == true)
                    #expect(result["proof"] is [String: Any])
                }
                try await client.execute(uri: "/query/balance/\(address)?height=0", method: .get) { response in
                    #expect(response.status == .ok)
                    let value = try Self.object(response.body)["value"] as? [String: Any]
                    #expect(value?["amount"] as? String == "\(Amount(gnk: 1_000)!.ngonka)ngonka")
                }
                for path in ["/query/account/\(address)", "/query/participants", "/query/supply", "/query/params"] {
                    try await client.execute(uri: path, method: .get) { response in
                        #expect(response.status == .ok, "\(path)")
                    }
                }
                try await client.execute(uri: "/metrics", method: .get) { response in
                    let text = String(buffer: response.body)
                    #expect(text.contains("gonka_height "))
                    #expect(text.contains("gonka_txs_committed_total "))
                }

                // Bad input: each a 4xx JSON error with its reason, nothing changed.
                let bad: [(String, HTTPRequest.Method, ByteBuffer?, HTTPFields, Int, String)] = [
                    ("/tx", .post, ByteBuffer(bytes: [1, 2, 3]), [:], 400, "undecodable"),
                    (
                        "/tx", .post, ByteBuffer(string: "{\"tx\":\"%%%\"}"), [.contentType: "application/json"], 400,
                        "malformed_body"
                    ),
                    (
                        "/tx", .post, ByteBuffer(string: "{\"nope\":1}"), [.contentType: "application/json"], 400,
                        "malformed_body"
                    ),
                    ("/tx", .post, ByteBuffer(), [:], 400, "malformed_body"),
                    ("/tx?mode=later", .post, ByteBuffer(bytes: second), [:], 400, "invalid_mode"),
                    ("/tx", .post, ByteBuffer(repeating: 1, count: 2 << 20), [:], 413, "body_too_large"),
                    ("/block/abc", .get, nil, [:], 400, "invalid_height"),
                    ("/block/999999", .get, nil, [:], 404, "not_found"),
                    ("/tx/xyz", .get, nil, [:], 400, "invalid_hash"),
                    ("/tx/\(Hash.sha256("unknown").hex)", .get, nil, [:], 404, "not_found"),
                    ("/query/unknown", .get, nil, [:], 404, "not_found"),
                    ("/query/balance/notanaddress", .get, nil, [:], 400, "invalid_address"),
                    ("/query/balance/\(address)?height=abc", .get, nil, [:], 400, "invalid_height"),
                    ("/query/balance/\(address)?height=99999999", .get, nil, [:], 400, "invalid_height"),
                    ("/nowhere", .get, nil, [:], 404, "not_found"),
                    ("/debug/isolate", .post, ByteBuffer(string: "{\"isolated\":true}"), [:], 404, "not_found"),
                    ("/txs", .post, ByteBuffer(string: "{\"txs\":[]}"), [:], 400, "malformed_body"),
                    ("/txs", .post, ByteBuffer(string: "{\"txs\":[\"%%%\"]}"), [:], 400, "malformed_body"),
                    ("/txs", .post, ByteBuffer(string: "[1,2]"), [:], 400, "malformed_body"),
                    ("/txs", .post, ByteBuffer(bytes: [1, 2, 3]), [:], 400, "malformed_body"),
                    (
                        "/txs", .post,
                        ByteBuffer(
                            string: "{\"txs\":[" + Array(repeating: "\"AQ==\"", count: 1_001).joined(separator: ",")
                                + "]}"),
                        [:], 400, "malformed_body"
                    ),
                ]
                for (uri, method, body, headers, status, code) in bad {
                    try await client.execute(uri: uri, method: method, headers: headers, body: body) { response in
                        #expect(Int(response.status.code) == status, "\(uri)")
                        let found = try Self.errorCode(response.body)
                        #expect(found == code, "\(uri)")
                    }
                }
            }
        } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }
}
