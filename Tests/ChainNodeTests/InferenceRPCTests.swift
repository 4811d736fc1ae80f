import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Testing

/// Module Inference's routes on a running single-validator node, through `ChainClient` over a real
/// socket: a Start and a Finish committed by consensus, then every query, then bad input.
@Suite(.serialized, .hangGuard) struct InferenceRPCTests {
    static let model = Genesis.Model.devnetDefault

    @Test(.timeLimit(.minutes(3))) func inferenceRoundTripAndQueries() async throws {
        let net = try TestNetwork(validators: 1, models: [Self.model])
        defer { net.cleanup() }
        let running = try await RunningNode(home: net.homes[0], name: "inference-rpc")
        do {
            #expect(await eventually { running.height >= 2 })
            let client = try ChainClient(baseURL: "http://127.0.0.1:\(try await running.node.rpcPort())")
            let wallet = net.wallet
            // The only participant is the TA and, being alone, also the executor.
            let ta = TestChain.key(seed: 7, index: 3000)
            let requester = wallet.accounts[0]
            let before = try await client.balance(requester.publicKey.address)

            let pool = try await client.executors(model: Self.model.id)
            #expect(pool.candidates.map(\.address) == [ta.publicKey.address])
            #expect(pool.candidates.map(\.weight) == [10])
            let seed = try #require(pool.epochSeedHash)

            let timestamp = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
            let request = wallet.inferenceRequest(
                requester: requester, transferAgent: ta.publicKey.address, body: "{\"prompt\":\"hi\"}",
                timestamp: timestamp)
            let drawn = try #require(
                try ExecutorDraw.executor(
                    inferenceID: request.inferenceID, epochSeed: seed, attempt: 0,
                    transferAgent: ta.publicKey.address,
                    candidates: pool.candidates.map { .init(address: $0.address, weight: $0.weight) }))
            #expect(drawn == ta.publicKey.address)
            let start = wallet.startInference(
                request, taKey: ta, executor: drawn, model: Self.model.id, promptTokens: 7, maxTokens: 50)
            let startResult = try await client.broadcast(try wallet.dutyTx([Wire.Msg(start)], by: ta), mode: .commit)
            #expect(startResult.code == 0, "\(startResult.log)")
            let started = try #require(try await client.inference(request.inferenceID))
            #expect(started.status == "STARTED")
            #expect(started.escrow == Amount(ngonka: 57 * started.price.ngonka))

            let commitment = Hash.sha256("payload")
            let finish = wallet.finishInference(
                request, executor: drawn, model: Self.model.id, promptTokens: 7, completionTokens: 13,
                commitment: commitment)
            let finishResult = try await client.broadcast(try wallet.dutyTx([Wire.Msg(finish)], by: ta), mode: .commit)
            #expect(finishResult.code == 0, "\(finishResult.log)")
            let record = try #require(try await client.inference(request.inferenceID))
            #expect(record.status == "FINISHED")
            #expect(record.requester == requester.publicKey.address.description)
            #expect(record.transferAgent == ta.publicKey.address.description)
            #expect(record.executor == drawn.description)
            #expect(record.model == Self.model.id)
            #expect(record.promptTokens == 7)
            #expect(record.completionTokens == 13)
            #expect(record.cost == Amount(ngonka: 20 * record.price.ngonka))
            #expect(record.refund.ngonka == record.escrow.ngonka - record.cost.ngonka)
            #expect(record.responseCommitment == commitment.hex)
            #expect(record.finishHeight >= record.startHeight)
            #expect(try await client.balance(requester.publicKey.address).ngonka == before.ngonka - record.cost.ngonka)

            let models = try await client.models()
            #expect(models.map(\.id) == [Self.model.id])
            #expect(models[0].pricePerToken.ngonka >= 1)
            let pricing = try await client.pricing()
            #expect(pricing.models.map(\.model) == [Self.model.id])
            #expect(pricing.startPrice == Amount(ngonka: 100))
            #expect(pricing.windowSeconds == 60)
            let misses = try await client.misses(drawn)
            #expect(misses.total == 0)

            // Every route's answer against the client's type of it (RPCContract).
            let requesterAddress = requester.publicKey.address
            let startHeight = try #require(startResult.height)
            try await RPCContract.check(
                client,
                [
                    .init("/status", NodeStatus.self), .init("/block/\(startHeight)", BlockInfo.self),
                    .init("/tx/\(startResult.hash)", TxResult.self),
                    .init("/query/balance/\(requesterAddress)", BalanceRecord.self),
                    .init("/query/account/\(requesterAddress)", AccountRecord.self),
                    .init("/query/account/\(requesterAddress)?height=\(startHeight)", AccountRecord.self),
                    .init("/query/participants", [ParticipantInfo].self),
                    .init("/query/supply", SupplyRecord.self), .init("/query/params", ChainParams.self),
                    .init("/query/epoch", EpochInfo.self), .init("/query/epoch/0", EpochRecordInfo.self),
                    .init("/query/inference/\(request.inferenceID)", InferenceRecordInfo.self),
                    .init("/query/executors?model=\(Self.model.id)", ExecutorsInfo.self),
                    .init("/query/models", [ModelRecord].self), .init("/query/pricing", PricingInfo.self),
                    .init("/query/misses/\(drawn)", MissesInfo.self),
                    .init("/query/validation/\(request.inferenceID)", InferenceValidationsInfo.self),
                    .init("/query/validations/0", [ValidationInfo].self),
                    .init("/query/validations/0/\(drawn)", [ValidationInfo].self),
                    .init("/query/validation_epoch", ValidationEpochInfo.self),
                    .init("/query/validation_epoch/0", ValidationEpochInfo.self),
                    .init("/query/votes/\(drawn)", [VotingInfo].self),
                ])

            // Validation (§7): the epoch's standing counts the served inference; nobody else may
            // validate it (a lone participant's own inference), and an own validation is refused.
            let standing = try await client.validationEpoch()
            #expect(standing.epoch == 0)
            #expect(standing.begun)
            let mine = try #require(standing.participants.first { $0.address == drawn.description })
            #expect(mine.served == 1)
            #expect(mine.status == "active")
            #expect(mine.weight == 10)
            #expect(mine.llrThreshold == "13.815510")
            #expect(try await client.validations(of: request.inferenceID).validations.isEmpty)
            var own = Wire.MsgValidation()
            own.validator = drawn.description
            own.inferenceID = request.inferenceID
            own.passed = true
            let ownTx = try wallet.dutyTx([Wire.Msg(own)], by: ta)
            let refused = await #expect(throws: ChainClientError.self) {
                try await client.broadcast(ownTx, mode: .commit)
            }
            #expect(refused?.serverCode == "own_inference", "\(String(describing: refused))")
            #expect(try await client.pendingVotes(drawn).isEmpty)

            // Bad input: clear 4xx answers.
            let unknownID = String(repeating: "0", count: 64)
            #expect(try await client.inference(unknownID) == nil)
            for (path, status, code) in [
                ("/query/inference/xyz", 400, "invalid_inference_id"),
                ("/query/executors", 400, "missing_model"),
                ("/query/executors?model=nope", 404, "not_found"),
                ("/query/misses/notanaddress", 400, "invalid_address"),
                ("/query/models/extra", 404, "not_found"),
                ("/query/validation/xyz", 400, "invalid_inference_id"),
                ("/query/validations/x", 400, "invalid_epoch"),
                ("/query/validations/0/nope", 400, "invalid_address"),
                ("/query/validation_epoch/x", 400, "invalid_epoch"),
                ("/query/votes/nope", 400, "invalid_address"),
            ] {
                let (got, body) = try await client.rawGET(path)
                #expect(got == status, "\(path): \(String(decoding: body, as: UTF8.self))")
                #expect(ChainClient.serverError(status: got, body: body).serverCode == code, "\(path)")
            }
            await #expect(throws: ChainClientError.self) { try await client.inference("short") }
        } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }
}
