import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import GonkaClient

/// Two senders of one account (a node's own duty txs and its operator's CLI both sign with the
/// account key): the account query shows the committed sequence while the mempool is ahead of it.
/// `signAndBroadcast` re-signs with the sequence the node expects instead of failing `bad_sequence`.
@Suite(.serialized, .hangGuard) struct SequenceRetryTests {
    @Test func theExpectedSequenceIsReadFromTheLedgersMessage() {
        #expect(ChainClient.expectedSequence(in: "account sequence mismatch: expected 13, got 9") == 13)
        #expect(ChainClient.expectedSequence(in: "bad_sequence: expected 0") == 0)
        #expect(ChainClient.expectedSequence(in: "account sequence mismatch") == nil)
        #expect(ChainClient.expectedSequence(in: "expected x") == nil)
    }

    /// Two validators, one running: nothing commits, so the 20 txs stay in the mempool while the
    /// committed sequence stays where it was.
    @Test(.timeLimit(.minutes(3))) func aSenderBehindTheMempoolSignsAfterIt() async throws {
        let net = try TestNetwork(validators: 2, params: .devnet)
        defer { net.cleanup() }
        let running = try await RunningNode(home: net.homes[0], name: "sequence-retry")
        do {
            let client = try ChainClient(baseURL: "http://127.0.0.1:\(try await running.node.rpcPort())")
            let sender = net.wallet.accounts[0]
            let receiver = SigningKey().publicKey.address
            let status = try await client.status()
            let params = try await client.params()
            let builder = TxBuilder(chainID: status.chainID, key: sender, minGasPrice: params.minGasPrice)
            let first = try await client.account(sender.publicKey.address).sequence
            // The "other sender": 20 txs into the mempool.
            let pending = try (0..<20).map { i in
                try builder.build(
                    [.send(from: sender.publicKey.address, to: receiver, amount: 1_000)], sequence: first + UInt64(i)
                ).bytes
            }
            let accepted = try await client.broadcast(batch: pending)
            #expect(accepted.allSatisfy { $0.code == 0 }, "\(accepted.map(\.error))")
            #expect(try await client.account(sender.publicKey.address).sequence == first, "nothing committed")
            // The CLI's way: accepted behind them, not refused bad_sequence.
            let sent = try await client.signAndBroadcast(
                [.send(from: sender.publicKey.address, to: receiver, amount: 1_000_000)], key: sender, mode: .sync)
            #expect(sent.result.code == 0, "\(sent.result.log)")
            #expect(sent.tx.body.sequence == first + 20)
        } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }
}
