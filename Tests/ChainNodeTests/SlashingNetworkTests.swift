import ChainNode
import Consensus
import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf
import Testing

@testable import ChainNode

/// PROTOCOL §9 on a network of `Node`s in this process over real P2P on loopback: a validator down
/// for more than half of the liveness window is jailed, leaves the set, comes back, unjails and
/// signs again; a validator whose key signs on two nodes at once is caught by evidence in a block,
/// slashed 5% and tombstoned on every node.
@Suite(.serialized, .hangGuard) struct SlashingNetworkTests {
    final class Cluster {
        let net: TestNetwork
        var running: [Int: RunningNode] = [:]

        init(_ net: TestNetwork) { self.net = net }

        func start(_ i: Int, home: URL? = nil) async throws {
            let peers = running.filter { $0.key != i }.sorted { $0.key < $1.key }.map { ($0.key, $0.value.p2pPort) }
            if let home {
                var config = NodeConfig(moniker: "twin", chainID: TestChain.chainID)
                config.p2pListen = "127.0.0.1:0"
                config.rpcListen = "127.0.0.1:0"
                config.timeouts = "fast"
                config.persistentPeers = peers.map { "\(net.p2pKeys[$0.0].publicKey.hex)@127.0.0.1:\($0.1)" }
                try config.toml.write(to: home.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
            } else {
                try net.writeConfig(i, peers: peers)
            }
            running[i] = try await RunningNode(home: home ?? net.homes[i], name: "node\(i)")
        }

        func stop(_ i: Int) async {
            await running[i]?.stop()
            running[i] = nil
        }

        func stopAll() async { for i in running.keys.sorted() { await stop(i) } }

        func ledger<T: Sendable>(_ i: Int, _ body: @Sendable (Ledger) throws(LedgerError) -> T) async throws -> T {
            let node = try #require(running[i]).node
            return try await node.driver.readLedger(body)
        }

        /// Whether `key` is a consensus key of node `i`'s latest validator set.
        func inLatestSet(_ i: Int, _ key: SigningKey) async throws -> Bool {
            let pub = Data(key.publicKey.bytes)
            return try await ledger(i) { ledger throws(LedgerError) in
                try ledger.validatorSets().last?.validators.contains { $0.consensusPubkey == pub } ?? false
            }
        }

        /// Submits `tx` to node `i` and waits until node `i` has committed it; returns its code.
        func commit(_ tx: [UInt8], on i: Int) async throws -> UInt32 {
            let node = try #require(running[i]).node
            let hash = Hash.sha256(tx)
            _ = await node.driver.submit(tx)
            #expect(await eventually(.seconds(20)) { (try? node.driver.blocks.tx(hash: hash)) != nil })
            return try #require(try node.driver.blocks.tx(hash: hash)).code
        }
    }

    static func params(window: UInt64 = 20) -> ChainParams {
        var params = ChainParams.devnet
        params.slashing.livenessWindow = window
        params.slashing.jailBlocks = 5
        return params
    }

    /// Funds validator 3's account from the wallet and deposits `deposit` GNK as its collateral.
    static func fundAndDeposit(_ cluster: Cluster, deposit: UInt64) async throws {
        let net = cluster.net
        let account = net.accountKeys[3]
        let fund = Wire.Msg.send(
            from: net.wallet.address(0), to: account.publicKey.address, amount: 200 * Amount.ngonkaPerGNK)
        let fundTx = try net.wallet.sign(
            net.wallet.body([fund], signer: net.wallet.accounts[0]), by: net.wallet.accounts[0])
        #expect(try await cluster.commit(fundTx, on: 0) == 0)
        let msg = Wire.MsgDepositCollateral.with {
            $0.participant = account.publicKey.address.description
            $0.amount = deposit * Amount.ngonkaPerGNK
        }
        let tx = try net.wallet.sign(net.wallet.body([Wire.Msg(msg)], signer: account), by: account)
        #expect(try await cluster.commit(tx, on: 0) == 0)
    }

    @Test(.timeLimit(.minutes(3))) func aValidatorDownForHalfTheWindowIsJailedLeavesUnjailsAndSignsAgain() async throws
    {
        let net = try TestNetwork(validators: 4, params: Self.params())
        defer { net.cleanup() }
        let cluster = Cluster(net)
        do {
            for i in 0..<4 { try await cluster.start(i) }
            #expect(await eventually { cluster.running.values.allSatisfy { $0.height >= 3 } })
            try await Self.fundAndDeposit(cluster, deposit: 100)
            let account = net.accountKeys[3].publicKey.address
            let consensus = net.consensusKeys[3].publicKey.address
            // Node 3 stops: 30 of 40 power keep committing; after the window it is jailed.
            await cluster.stop(3)
            let jailed = await eventually(.seconds(60)) {
                (try? await cluster.ledger(0) { l throws(LedgerError) in try l.signingInfo(account).jailed }) == true
            }
            #expect(jailed, "jailed for liveness")
            let slashes = try await cluster.ledger(0) { l throws(LedgerError) in try l.slashes(of: account) }
            #expect(slashes.map(\.reason) == ["liveness"])
            #expect(slashes.first?.burnedDeposit == Amount.ngonkaPerGNK, "1% of 100 GNK")
            // It leaves the validator set (two heights after the jail).
            let left = await eventually(.seconds(20)) {
                (try? await cluster.inLatestSet(0, net.consensusKeys[3])) == false
            }
            #expect(left, "out of the validator set")
            // Restarted, it catches up; after jail_blocks it unjails and is back in the set, signing.
            try await cluster.start(3)
            let info = try await cluster.ledger(0) { l throws(LedgerError) in try l.signingInfo(account) }
            #expect(await eventually(.seconds(30)) { cluster.running[0]!.height >= info.jailedUntil })
            let unjail = Wire.MsgUnjail.with { $0.validator = account.description }
            let tx = try net.wallet.sign(
                net.wallet.body([Wire.Msg(unjail)], signer: net.accountKeys[3]), by: net.accountKeys[3])
            #expect(try await cluster.commit(tx, on: 0) == 0)
            #expect(!(try await cluster.ledger(0) { l throws(LedgerError) in try l.signingInfo(account) }).jailed)
            let back = await eventually(.seconds(20)) {
                (try? await cluster.inLatestSet(0, net.consensusKeys[3])) == true
            }
            #expect(back, "back in the validator set")
            let from = cluster.running[0]!.height + 3
            let signs = await eventually(.seconds(30)) {
                guard let h = cluster.running[1]?.height, h > from + 1 else { return false }
                return (try? NetworkTests.signers(cluster.running[1]!.node, height: h - 1).contains(consensus)) == true
            }
            #expect(signs, "it signs again")
        } catch {
            await cluster.stopAll()
            throw error
        }
        await cluster.stopAll()
    }

    @Test(.timeLimit(.minutes(3))) func aKeySigningOnTwoNodesIsSlashedAndTombstonedOnEveryNode() async throws {
        let net = try TestNetwork(validators: 4)
        defer { net.cleanup() }
        let cluster = Cluster(net)
        do {
            for i in 0..<4 { try await cluster.start(i) }
            #expect(await eventually { cluster.running.values.allSatisfy { $0.height >= 3 } })
            try await Self.fundAndDeposit(cluster, deposit: 100)
            let account = net.accountKeys[3].publicKey.address
            // A second node with validator 3's consensus key (its own P2P key): the key signs twice.
            let twin = net.root.appendingPathComponent("twin", isDirectory: true)
            try FileManager.default.createDirectory(
                at: twin.appendingPathComponent("data"), withIntermediateDirectories: true)
            let keys = KeyStore(home: twin)
            let twinP2P = TestChain.key(seed: 99, index: 1)
            try keys.add(name: "p2p", key: twinP2P)
            try keys.add(name: "consensus", key: net.consensusKeys[3])
            try keys.add(name: "validator", key: net.accountKeys[3])
            try net.genesis.encodedJSON().write(to: twin.appendingPathComponent("genesis.json"))
            try await cluster.start(4, home: twin)
            let punished = await eventually(.seconds(90)) {
                for i in 0..<3 {
                    guard
                        (try? await cluster.ledger(i) { l throws(LedgerError) in try l.signingInfo(account).tombstoned })
                            == true
                    else {
                        return false
                    }
                }
                return true
            }
            #expect(punished, "tombstoned on every node")
            for i in 0..<3 {
                let slashes = try await cluster.ledger(i) { l throws(LedgerError) in try l.slashes(of: account) }
                #expect(slashes.filter { $0.reason == "double_sign" }.count == 1, "node \(i)")
                #expect(
                    slashes.first { $0.reason == "double_sign" }?.burnedDeposit == 5 * Amount.ngonkaPerGNK,
                    "5% of 100 GNK (node \(i))")
            }
            #expect(
                await eventually(.seconds(20)) { (try? await cluster.inLatestSet(0, net.consensusKeys[3])) == false },
                "out of the validator set for good")
            let h = cluster.running[0]!.height
            #expect(await eventually(.seconds(20)) { cluster.running[0]!.height >= h + 3 }, "the chain goes on")
        } catch {
            await cluster.stopAll()
            throw error
        }
        await cluster.stopAll()
    }
}
