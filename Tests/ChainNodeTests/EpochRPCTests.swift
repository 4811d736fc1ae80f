import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing

@testable import ChainNode

/// `/query/epoch`, `/query/epoch/{n}`, `/query/poc/{addr}[/{P}]` and the weights in
/// `/query/participants` on a running single-validator node with 30-block epochs, and their bad input.
@Suite(.serialized, .hangGuard) struct EpochRPCTests {
    static func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        let data = Data(buffer.readableBytesView)
        return try #require(
            try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(String(decoding: data, as: UTF8.self))")
    }

    @Test(.timeLimit(.minutes(2))) func epochAndPocRoutes() async throws {
        var params = ChainParams.devnet
        params.epochs = .short
        let net = try TestNetwork(validators: 1, seed: 17, params: params)
        defer { net.cleanup() }
        let running = try await RunningNode(home: net.homes[0], name: "epoch-rpc")
        do {
            #expect(await eventually(.seconds(60)) { running.height >= 31 })
            let participant = net.accountKeys[0].publicKey.address
            var batch = Wire.MsgSubmitPocBatch()
            batch.participant = participant.description
            batch.pocStartHeight = 30
            batch.mlNodeID = "ml0"
            batch.nodeIndex = 0
            batch.nodeCount = 1
            batch.nonces = [3, 1, 2]
            batch.distancesNano = [5, 6, 7]
            let result = await running.node.driver.submitDuty([Wire.Msg(batch)], key: net.accountKeys[0])
            guard case .added = result else {
                Issue.record("batch not accepted: \(String(describing: result))")
                return
            }
            #expect(await eventually(.seconds(60)) { running.height >= 34 })
            let app = Application(router: ChainRPC.router(running.node.rpcDependencies))
            try await app.test(.router) { client in
                try await client.execute(uri: "/query/epoch", method: .get) { response in
                    #expect(response.status == .ok)
                    let value = try #require(try Self.object(response.body)["value"] as? [String: Any])
                    #expect(value["epoch"] as? Int == 1)
                    #expect(value["poc_start_height"] as? Int == 30)
                    #expect(
                        ["generation", "exchange", "closed", "validation"].contains(value["stage"] as? String ?? ""))
                    #expect((value["poc_block_hash"] as? String)?.count == 64)
                    #expect((value["blocks_to_next_stage"] as? Int ?? 0) > 0)
                    #expect((value["validators"] as? [[String: Any]])?.first?["power"] as? Int == 10)
                    #expect(value["active_epoch"] as? Int == 0)
                }
                try await client.execute(uri: "/query/epoch/0", method: .get) { response in
                    #expect(response.status == .ok)
                    let value = try #require(try Self.object(response.body)["value"] as? [String: Any])
                    #expect(value["status"] as? String == "active")
                    #expect((value["participants"] as? [[String: Any]])?.first?["weight"] as? Int == 10)
                }
                try await client.execute(uri: "/query/poc/\(participant)", method: .get) { response in
                    #expect(response.status == .ok)
                    let value = try #require(try Self.object(response.body)["value"] as? [String: Any])
                    #expect(value["batches_count"] as? Int == 1)
                    #expect(value["nonce_count"] as? Int == 3)
                    #expect(value["nonces"] as? [Int] == [3, 1, 2])
                    #expect((value["batches"] as? [[String: Any]])?.first?["ml_node_id"] as? String == "ml0")
                }
                try await client.execute(uri: "/query/participants", method: .get) { response in
                    #expect(response.status == .ok)
                    let list = try #require(try Self.object(response.body)["value"] as? [[String: Any]])
                    #expect(list.count == 1)
                    #expect(list.first?["status"] as? String == "genesis")
                    #expect(list.first?["weight"] as? Int == 10)
                    #expect(list.first?["validator_power"] as? Int == 10)
                    #expect(list.first?["registered_height"] as? Int == 0)
                }
                // Bad input: each a JSON error with its status.
                let bad: [(String, HTTPResponse.Status, String)] = [
                    ("/query/epoch/x", .badRequest, "invalid_epoch"),
                    ("/query/epoch/99", .notFound, "not_found"),
                    ("/query/poc/nope", .badRequest, "invalid_address"),
                    ("/query/poc/\(participant)/x", .badRequest, "invalid_height"),
                    ("/query/poc/\(participant)/1/2", .notFound, "not_found"),
                    ("/query/poc/\(participant)?height=5", .notFound, "not_found"),
                    ("/query/epoch?height=99999", .badRequest, "invalid_height"),
                ]
                for (uri, status, code) in bad {
                    try await client.execute(uri: uri, method: .get) { response in
                        #expect(response.status == status, "\(uri)")
                        let error = try Self.object(response.body)["error"] as? [String: Any]
                        #expect(error?["code"] as? String == code, "\(uri)")
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
