import Devnet
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Testing

/// Real `gonka node start` processes on loopback: a 4-validator devnet is crashed, restarted,
/// halted and partitioned, and after each step the tests check that blocks advance (or do not),
/// that every node holds the same blocks and app hashes, and that no committed tx is lost.
/// `make test` runs one pass; `make e2e` (GONKA_E2E=1) repeats the cycles with txs flowing.
@Suite(.serialized, .hangGuard, .enabled(if: DevnetHarness.nodeAvailable, "needs `gonka node start`"))
struct FaultTests {
    static let e2e = ProcessInfo.processInfo.environment["GONKA_E2E"] == "1"

    @Test(.timeLimit(.minutes(10))) func validatorsSurviveCrashesHaltsAndPartitions() async throws {
        try await DevnetHarness.withDevnet(participants: 4) { net in
            let all = Array(0..<4)
            var committed: [String: UInt64] = [:]

            // 1. Blocks advance on every node with identical app hashes.
            try await net.waitForHeight(3, nodes: all)
            try await net.checkConsistency(nodes: all)
            print("[devnet] 4 validators committing, height \(await net.maxHeight(all))")

            // 2. A bank send from the faucet is committed and visible on every node.
            let recipient = SigningKey().publicKey.address
            let sent = try await net.faucetSend(to: recipient.description, amount: "1.5gnk")
            committed[sent.hash] = sent.height
            try await net.waitForHeight(sent.height, nodes: all)
            for node in all {
                #expect(try await net.client(node).balance(recipient) == Amount(ngonka: 1_500_000_000))
                let query = try await DevnetHarness.run([
                    "query", "balance", recipient.description, "--node", net.manifest.nodes[node].rpcURL,
                ])
                #expect(query.status == 0 && query.stdout.contains("1.5gnk"), "\(query.output)")
            }

            // Txs flow from here on, through every fault below.
            let flow = TxFlow(net: net)
            try await flow.fund()
            let flowing = Task { await flow.run() }
            defer { flowing.cancel() }

            let cycles = Self.e2e ? 3 : 1
            for cycle in 0..<cycles {
                let victim = 3 - cycle % 2  // nodes 3 and 2 take turns
                // 3. kill -9 one validator: the other three keep committing (and take txs).
                try await net.killNode(victim)
                let survivors = all.filter { $0 != victim }
                let afterKill = await net.maxHeight(survivors)
                try await net.waitForHeight(afterKill + 3, nodes: survivors)
                print(
                    "[devnet] cycle \(cycle): killed node\(victim) at \(afterKill); the others reached \(afterKill + 3)"
                )
                let during = try await net.faucetSend(to: recipient.description, amount: "1gnk", node: survivors[0])
                committed[during.hash] = during.height

                // 4. Restart it: it catches up and signs again.
                try await net.restartNode(victim)
                let target = await net.maxHeight(survivors)
                try await net.waitForHeight(target, nodes: [victim], timeout: .seconds(90))
                let rejoined = await net.maxHeight(all)
                try await net.waitForHeight(rejoined + 4, nodes: all)
                let signed = try await net.signedHeights(by: victim, in: (rejoined + 1)...(rejoined + 4), via: 0)
                print("[devnet] node\(victim) restarted, caught up to \(target), signed heights \(signed)")
                #expect(!signed.isEmpty, "node\(victim) signed none of heights \(rejoined + 1)…\(rejoined + 4)")
                try await net.checkConsistency(nodes: all, committed: committed)

                // 5. Kill two of four: 2/4 of the power is not more than 2/3, so the chain halts.
                try await net.killNode(2)
                try await net.killNode(3)
                try await Task.sleep(for: .seconds(2))  // a block already being committed may land
                let halted = await net.maxHeight([0, 1])
                try await Task.sleep(for: .seconds(4))
                let stillHalted = await net.maxHeight([0, 1])
                print("[devnet] nodes 2 and 3 killed: height \(halted) → \(stillHalted) after 4 s")
                #expect(stillHalted == halted, "blocks committed without a 2/3 majority")
                try await net.checkConsistency(nodes: [0, 1], committed: committed)

                // 6. Restart them: the chain resumes.
                try await net.restartNode(2)
                try await net.restartNode(3)
                try await net.waitForHeight(halted + 3, nodes: all, timeout: .seconds(90))
                print("[devnet] nodes 2 and 3 restarted: all at \(halted + 3) or more")
                let resumed = try await net.faucetSend(to: recipient.description, amount: "1gnk", node: 2)
                committed[resumed.hash] = resumed.height

                // 7. Cut one node off the network, then heal: it falls behind and catches up.
                let island = 1
                try await net.client(island).setIsolated(true)
                let others = all.filter { $0 != island }
                let cut = await net.maxHeight(others)
                try await net.waitForHeight(cut + 4, nodes: others)
                let islandHeight = await net.height(island) ?? 0
                #expect(islandHeight <= cut + 1, "an isolated node kept committing (\(islandHeight) vs \(cut))")
                try await net.client(island).setIsolated(false)
                let healed = await net.maxHeight(others)
                try await net.waitForHeight(healed, nodes: [island], timeout: .seconds(90))
                print(
                    "[devnet] node\(island) isolated at \(cut) (stayed at \(islandHeight)), healed, caught up to \(healed)"
                )
                _ = cycle
            }

            // Across everything: one chain, every committed tx still there on every node.
            await flow.stop()
            await flowing.value
            let flowed = await flow.committed
            #expect(flowed.count >= 3, "the tx flow committed only \(flowed.count) txs")
            committed.merge(flowed) { first, _ in first }
            print("[devnet] tx flow: \(flowed.count) committed, \(await flow.failures) failed submissions")
            try await net.waitForHeight(await net.maxHeight(all), nodes: all)
            let common = try await net.checkConsistency(nodes: all, committed: committed)
            #expect(committed.values.allSatisfy { $0 <= common })
            print("[devnet] heights 1…\(common) identical on all nodes; \(committed.count) txs found on every node")
            for node in all {
                #expect(try await net.client(node).balance(recipient) >= Amount(gnk: 3)!)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func eventStreamDeliversBlocksAndTxs() async throws {
        try await DevnetHarness.withDevnet(participants: 1) { net in
            try await net.waitForHeight(2, nodes: [0])
            let client = try net.client(0)
            let start = try await client.status().height
            let recipient = SigningKey().publicKey.address
            // Subscribe first, then send: the tx's event must come through this stream.
            let events = try await withThrowingTaskGroup(of: [ChainEvent].self) { group in
                group.addTask {
                    var seen: [ChainEvent] = []
                    var sawTx = false
                    var sawBlock = false
                    for try await event in client.events() {
                        seen.append(event)
                        if case .tx = event { sawTx = true }
                        if case .newBlock = event { sawBlock = true }
                        if sawTx, sawBlock { return seen }
                    }
                    return seen
                }
                try await Task.sleep(for: .milliseconds(500))
                let sent = try await net.faucetSend(to: recipient.description, amount: "2gnk")
                let seen = try await group.next() ?? []
                group.cancelAll()
                return (sent, seen)
            }
            let (sent, seen) = events
            let txEvents = seen.compactMap { if case .tx(let tx) = $0 { tx } else { nil } }
            #expect(txEvents.contains { $0.hash == sent.hash && $0.height == sent.height && $0.code == 0 })
            let blocks = seen.compactMap { if case .newBlock(let block) = $0 { block } else { nil } }
            #expect(!blocks.isEmpty && blocks.allSatisfy { $0.height > start })
            // Heights arrive in order.
            #expect(blocks.map(\.height) == blocks.map(\.height).sorted())
            #expect(try await client.balance(recipient) == Amount(gnk: 2)!)
        }
    }

    @Test(.timeLimit(.minutes(3))) func rpcRejectsBadInputWithAJSONError() async throws {
        try await DevnetHarness.withDevnet(participants: 1) { net in
            try await net.waitForHeight(2, nodes: [0])
            let client = try net.client(0)
            func expectError(_ what: String, status: Int, _ call: () async throws -> Void) async {
                do {
                    try await call()
                    Issue.record("\(what) was accepted")
                } catch let error as ChainClientError {
                    #expect(error.httpStatus == status, "\(what): \(error)")
                    #expect(error.serverCode?.hasPrefix("http_") == false, "\(what) without a JSON error: \(error)")
                    #expect(error.serverMessage?.isEmpty == false, "\(what): no reason given")
                } catch {
                    Issue.record("\(what): \(error)")
                }
            }
            // Malformed tx bodies.
            await expectError("garbage tx", status: 400) { _ = try await client.broadcast([0xFF, 0x00, 0x13]) }
            await expectError("empty tx", status: 400) { _ = try await client.broadcast([]) }
            // A well-formed tx with a bad signature.
            let key = SigningKey()
            var tx = try TxBuilder(chainID: "gonka-devnet", key: key, minGasPrice: 10).send(
                to: SigningKey().publicKey.address, amount: Amount(ngonka: 1), sequence: 0
            ).bytes
            tx[tx.count - 1] ^= 0x01
            await expectError("bad signature", status: 400) { _ = try await client.broadcast(tx) }
            // Heights and hashes.
            await expectError("block above the tip", status: 404) { _ = try await client.block(1_000_000_000) }
            await expectError("unknown tx", status: 404) { _ = try await client.tx(String(repeating: "ab", count: 32)) }
            await expectError("unknown query path", status: 404) { _ = try await client.query("nonsense/path") }
            await expectError("bad address", status: 400) { _ = try await client.query("balance/gonka1xyz") }
            // Paths the client refuses to build, sent raw.
            for (path, status) in [
                ("/block/abc", 400), ("/tx/zz", 400), ("/no/such/route", 404),
                ("/query/balance/\(key.publicKey.address)?height=abc", 400),
            ] {
                let (code, body) = try await client.rawGET(path)
                #expect(code == status, "\(path) → \(code)")
                let error = ChainClient.serverError(status: code, body: body)
                #expect(error.serverCode?.hasPrefix("http_") == false, "\(path) answered without a JSON error")
            }
            // Nothing of that changed the chain: the node still commits.
            let before = await net.height(0) ?? 0
            try await net.waitForHeight(before + 1, nodes: [0])
        }
    }
}
