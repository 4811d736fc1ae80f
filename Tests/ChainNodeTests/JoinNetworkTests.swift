import Consensus
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Storage
import Testing

@testable import ChainNode

/// `gonka node join` (the real binary) against four in-process validators on real sockets that
/// run their sprints with the real PoC engine: bad joins are refused with nothing written; a
/// funded join registers; the fifth node, started from the home the command wrote, syncs, mines in
/// the next sprint, is accepted with a weight, enters the consensus validator set at the switch and
/// signs blocks.
@Suite(.serialized, .hangGuard) struct JoinNetworkTests {
    static let pocRate = 200
    /// 40-block epochs (P = 40, 80, …): generation over [P+1, P+10), batches until P+12,
    /// validation over [P+14, P+30), weights at P+30, switch at P+32. The cap is 40%.
    static let epochs = EpochParams(
        epochLength: 40, generationEnd: 10, exchangeEnd: 12, validationStart: 14, validationEnd: 30,
        weightsOffset: 30, switchOffset: 32, claimOffset: 33, maxIndividualPowerPpm: 400_000)

    @Test(.timeLimit(.minutes(7))) func aFifthParticipantJoinsMinesAndBecomesAValidator() async throws {
        let started = ContinuousClock.now
        var params = ChainParams.devnet
        params.epochs = Self.epochs
        let net = try TestNetwork(validators: 4, seed: 17, params: params)
        defer { net.cleanup() }
        let joinHome = net.root.appendingPathComponent("joiner", isDirectory: true)
        var running: [RunningNode] = []
        var ports: [(Int, Int)] = []
        do {
            for i in 0..<4 {
                // Capped like PocOrchestratorTests: uncapped, five engines flood the 2-core test
                // chain with batch txs and its blocks crawl.
                try net.writeConfig(i, peers: ports, pocThreads: 1, pocMaxNoncesPerSecond: Self.pocRate)
                let node = try await RunningNode(home: net.homes[i], name: "node\(i)")
                running.append(node)
                ports.append((i, node.p2pPort))
            }
            let first = running[0]
            // The joiner goes through node 3, which dialled the three others: their listen
            // addresses (its outbound peers) become the joiner's peers too.
            let entry = running[3]
            let rpc = "http://127.0.0.1:\(try await entry.node.rpcPort())"
            let client = try ChainClient(baseURL: rpc)
            #expect(await eventually(.seconds(30)) { first.height >= 2 }, "blocks are committed")

            // GET /genesis is the file the node started from; /status names its P2P address.
            let served = try await client.genesis()
            #expect(served == (try Data(contentsOf: net.homes[0].appendingPathComponent("genesis.json"))))
            let status = try await client.status()
            #expect(status.p2pListen == "127.0.0.1:\(entry.p2pPort)")
            // Before the join: the four genesis validators.
            #expect(try await client.epoch().validators.count == 4)

            let joinArgs = [
                "node", "join", "--home", joinHome.path, "--peer", rpc, "--moniker", "joiner", "--p2p-listen",
                "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0", "--timeouts", "fast", "--url", "http://127.0.0.1:9999",
                "--poc-max-nonces-per-second", "\(Self.pocRate)",
            ]
            let configURL = joinHome.appendingPathComponent("config.toml")
            let genesisURL = joinHome.appendingPathComponent("genesis.json")
            func nothingWritten() -> Bool {
                !FileManager.default.fileExists(atPath: configURL.path)
                    && !FileManager.default.fileExists(atPath: genesisURL.path)
            }

            // Another chain id than the peer's: refused, nothing written.
            let wrongChain = try await GonkaBinary.run(joinArgs + ["--chain-id", "another-chain"])
            #expect(wrongChain.status != 0)
            #expect(wrongChain.output.contains("serves chain \"\(TestChain.chainID)\", not \"another-chain\""))
            #expect(nothingWritten())

            // No funds for the fee: a clear error naming the address to fund; keys only.
            let unfunded = try await GonkaBinary.run(joinArgs)
            #expect(unfunded.status != 0)
            #expect(unfunded.output.contains("fund it first: gonka devnet fund"), "\(unfunded.output)")
            #expect(nothingWritten())
            let account = try KeyStore(home: joinHome).entry("validator").address
            #expect(unfunded.output.contains(account.description))
            #expect(try await client.participants().count == 4)

            // A home that already belongs to another chain is refused and left as it was.
            let otherHome = net.root.appendingPathComponent("other", isDirectory: true)
            try FileManager.default.createDirectory(at: otherHome, withIntermediateDirectories: true)
            let otherConfig = NodeConfig(moniker: "x", chainID: "some-other-chain").toml
            try otherConfig.write(
                to: otherHome.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
            var otherArgs = joinArgs
            otherArgs[3] = otherHome.path
            let otherChain = try await GonkaBinary.run(otherArgs)
            #expect(otherChain.status != 0)
            #expect(otherChain.output.contains("belongs to chain \"some-other-chain\""), "\(otherChain.output)")
            #expect(
                try String(contentsOf: otherHome.appendingPathComponent("config.toml"), encoding: .utf8)
                    == otherConfig)
            #expect(!FileManager.default.fileExists(atPath: otherHome.appendingPathComponent("genesis.json").path))

            // Funded, the join registers and writes the home.
            var send = Wire.MsgSend()
            send.fromAddress = net.wallet.accounts[0].publicKey.address.description
            send.toAddress = account.description
            send.amount = Amount(gnk: 10)!.ngonka
            let (_, funded) = try await client.signAndBroadcast([Wire.Msg(send)], key: net.wallet.accounts[0])
            #expect(funded.code == 0)
            let joined = try await GonkaBinary.run(joinArgs + ["--chain-id", TestChain.chainID])
            #expect(joined.status == 0, "\(joined.output)")
            #expect(joined.output.contains("registered participant \(account)"))
            #expect(joined.output.contains("gonka node start --home \(joinHome.path)"))
            let me = try #require(try await client.participants().first { $0.address == account.description })
            let registeredAt = me.registeredHeight
            let written = try NodeConfig(toml: String(contentsOf: configURL, encoding: .utf8))
            #expect(written.chainID == TestChain.chainID)
            #expect(written.pocEnabled)
            #expect(written.pocMaxNoncesPerSecond == Self.pocRate)
            #expect(written.persistentPeers.first == "\(status.nodeID)@127.0.0.1:\(entry.p2pPort)")
            #expect(written.persistentPeers.count >= 2, "\(written.persistentPeers)")
            #expect(written.persistentPeers.contains { $0.hasPrefix(net.p2pKeys[0].publicKey.hex) })
            #expect(try Data(contentsOf: genesisURL) == served)
            for key in ["validator", "consensus", "p2p"] {
                let attributes = try FileManager.default.attributesOfItem(
                    atPath: KeyStore(home: joinHome).fileURL(key).path)
                #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(key) key is 0600")
            }
            // A second run: already registered, goes on, config kept.
            let again = try await GonkaBinary.run(joinArgs)
            #expect(again.status == 0, "\(again.output)")
            #expect(again.output.contains("already registered"))
            #expect(try await client.participants().count == 5)

            // The fifth node runs from the home the command wrote.
            let joiner = try await RunningNode(home: joinHome, name: "joiner")
            running.append(joiner)
            let joinerClient = try ChainClient(baseURL: "http://127.0.0.1:\(try await joiner.node.rpcPort())")
            // Its first sprint is the next one whose seed commit comes after the registration.
            let length = Self.epochs.epochLength
            let p = (registeredAt / length + 1) * length
            let switchHeight = p + Self.epochs.switchOffset
            #expect(await eventually(.seconds(150)) { joiner.height >= p }, "the joiner syncs to the sprint")
            #expect((try await joinerClient.status().validator) == nil, "not a validator before its sprint")

            // It mines: its batches are on chain by the end of the exchange. (The waits allow for
            // blocks at half speed: five validators and their PoC engines share 2 busy cores.)
            #expect(await eventually(.seconds(150)) { first.height >= p + Self.epochs.exchangeEnd })
            let sprint = try await client.poc(account, pocStartHeight: p)
            #expect(sprint.seedCommitted)
            #expect(sprint.nonceCount > 0, "the joiner's nonces are on chain")
            #expect(!sprint.batches.isEmpty)
            let minedAt = sprint.batches.map(\.height).min() ?? 0

            // Accepted with a weight, in the set from the switch on.
            #expect(await eventually(.seconds(180)) { first.height >= switchHeight + 1 }, "the chain passes the switch")
            let epoch = p / length
            let record = try #require(
                try await first.node.driver.readLedger { ledger throws(LedgerError) in try ledger.epoch(epoch) })
            let mine = try #require(record.participants.first { $0.address == account.description })
            #expect(mine.status == "accepted")
            #expect(mine.weight > 0)
            // The joiner is in the set consensus signs with (the genesis validators are too unless
            // one of them found no nonce on this loaded machine).
            let info = try await client.epoch()
            #expect(info.validators.count > 1)
            #expect(info.validators.contains { $0.address == account.description && $0.power == mine.weight })
            #expect(await eventually(.seconds(60)) { joiner.height >= switchHeight }, "the joiner follows")
            let joinerStatus = try await joinerClient.status()
            #expect(joinerStatus.validator?.power == mine.weight, "the joiner's node signs with its weight")

            // It signs: its precommits are in the commits of blocks after the switch.
            let consensusAddress = try Hex.encode(KeyStore(home: joinHome).load("consensus").publicKey.address.bytes)
            var signedAt: UInt64?
            _ = await eventually(.seconds(60)) {
                let h = first.height
                guard h > switchHeight else { return false }
                for height in switchHeight...h {
                    if let block = try? await client.block(height), block.commit.signers.contains(consensusAddress) {
                        signedAt = height
                        return true
                    }
                }
                return false
            }
            #expect(signedAt != nil, "the joiner's precommits appear in a commit")
            // How often it gets its precommit into the commit over the next blocks.
            let from = first.height
            _ = await eventually(.seconds(30)) { first.height >= from + 20 }
            var signed = 0
            for height in from..<(from + 20) {
                if let block = try? await client.block(height), block.commit.signers.contains(consensusAddress) {
                    signed += 1
                }
            }
            let elapsed = ContinuousClock.now - started
            print(
                "join: registered at \(registeredAt), sprint P=\(p) (epoch \(epoch)), first batch at \(minedAt), "
                    + "nonces \(sprint.nonceCount), weight \(mine.weight) of \(record.totalWeight) (\(info.validators.count) "
                    + "validators), set from "
                    + "\(switchHeight), first signed commit at \(signedAt ?? 0), "
                    + "signed \(signed) of the 20 commits from \(from); \(elapsed)")
        } catch {
            for node in running { await node.stop() }
            throw error
        }
        for node in running { await node.stop() }
    }

    /// Bad input that fails before any network step: a malformed --peer, an unreachable peer, a
    /// malformed --url. Each is a clear error and writes nothing.
    @Test(.timeLimit(.minutes(3))) func badJoinsWriteNothing() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("join-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let home = root.appendingPathComponent("home").path
        let cases: [([String], String)] = [
            (["--peer", "not a url"], "is not a chain RPC URL"),
            (["--peer", "ftp://127.0.0.1:5"], "is not a chain RPC URL"),
            // Port 1 on loopback: nothing listens there.
            (["--peer", "http://127.0.0.1:1"], "cannot reach the peer"),
            (["--peer", "http://127.0.0.1:1", "--url", "example.com"], "must be an http(s) URL"),
            (["--peer", "http://127.0.0.1:1", "--p2p-listen", "nowhere"], "is not host:port"),
        ]
        for (args, message) in cases {
            let run = try await GonkaBinary.run(["node", "join", "--home", home] + args)
            #expect(run.status != 0, "\(args)")
            #expect(run.output.contains(message), "\(args): \(run.output)")
            #expect(!FileManager.default.fileExists(atPath: home + "/config.toml"))
            #expect(!FileManager.default.fileExists(atPath: home + "/genesis.json"))
        }
    }
}

/// The `gonka` executable built beside the test bundle, run as a child process.
enum GonkaBinary {
    static let url: URL = {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gonka")
    }()

    struct Run {
        var status: Int32
        /// stdout and stderr together.
        var output: String
    }

    /// Runs `gonka ARGUMENTS`, killed after `timeout`.
    static func run(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> Run {
        try #require(FileManager.default.isExecutableFile(atPath: url.path), "build the gonka product first")
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            // Past the deadline, or the test was cancelled (its time limit): stop the child. SIGKILL
            // if SIGTERM is not enough within 10 s, so this never waits on a child that ignores it.
            if ContinuousClock.now > deadline || Task.isCancelled {
                process.terminate()
                let grace = ContinuousClock.now + .seconds(10)
                while process.isRunning, ContinuousClock.now < grace { usleep(50_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                Issue.record("gonka \(arguments.joined(separator: " ")) ran past \(timeout) or was cancelled")
                break
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus,
            output: (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }
}
