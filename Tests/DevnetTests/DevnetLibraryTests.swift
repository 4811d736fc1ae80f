import Devnet
import Foundation
import GonkaCore
import Testing

/// The devnet library without processes: the layout `devnet up --no-start` writes, the manifest's
/// file format, and the flag checks of `node join`.
@Suite(.timeLimit(.minutes(1))) struct DevnetLibraryTests {
    @Test func layoutWritesHomesWithDistinctPortsAndAManifestThatReadsBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-layout-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let written = try DevnetLayout.create(dir: dir, participants: 3, testHooks: true, binary: "/bin/true")
        #expect(written.nodes.map(\.moniker) == ["node0", "node1", "node2"])
        let ports = written.nodes.flatMap { [$0.p2pPort, $0.rpcPort, $0.apiPort] }
        #expect(Set(ports).count == 9)
        for node in written.nodes {
            #expect(FileManager.default.fileExists(atPath: node.home + "/genesis.json"))
            #expect(FileManager.default.fileExists(atPath: node.home + "/config.toml"))
            #expect(node.rpcURL == "http://127.0.0.1:\(node.rpcPort)")
            #expect(node.logPath == node.home + "/node.log")
        }
        let read = try DevnetManifest.load(from: dir)
        #expect(read.chainID == DevnetManifest.chainID)
        #expect(read.testHooks)
        #expect(read.faucet.address == written.faucet.address)
        #expect(read.nodes.map(\.accountAddress) == written.nodes.map(\.accountAddress))
        #expect(read.nodes.map(\.validatorAddress) == written.nodes.map(\.validatorAddress))
        #expect(!read.serves, "no model: no API nodes")
        #expect(read.nodes.allSatisfy { $0.adminPort == nil }, "no API node: no admin listener")
        // The file also carries, for people and scripts, each node's RPC URL and log.
        let text = try String(contentsOf: DevnetManifest.url(in: dir), encoding: .utf8)
        #expect(text.contains("\"rpc_url\" : \"\(written.nodes[0].rpcURL)\""))
        #expect(text.contains("\"log\" : \"\(written.nodes[0].logPath)\""))
    }

    /// `devnet up --netns`: each node listens on, is dialled at and advertises its namespace's
    /// address; loopback stays the default.
    @Test func hostsPutEachNodeOnItsOwnAddress() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-layout-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let hosts = [
            DevnetHost(netns: "t-n0", address: "10.213.9.2"), DevnetHost(netns: "t-n1", address: "10.213.9.3"),
        ]
        let written = try DevnetLayout.create(
            dir: dir, participants: 2, testHooks: false, binary: "/bin/true", hosts: hosts)
        #expect(written.nodes.map(\.netns) == ["t-n0", "t-n1"])
        #expect(written.nodes[1].rpcURL == "http://10.213.9.3:\(written.nodes[1].rpcPort)")
        let config = try String(contentsOfFile: written.nodes[0].home + "/config.toml", encoding: .utf8)
        #expect(config.contains("10.213.9.2:\(written.nodes[0].p2pPort)"))
        #expect(config.contains("@10.213.9.3:\(written.nodes[1].p2pPort)"), "the peer is dialled at its address")
        let genesis = try String(contentsOfFile: written.nodes[0].home + "/genesis.json", encoding: .utf8)
        #expect(genesis.contains("http://10.213.9.3:\(written.nodes[1].apiPort)"), "the executor URL on chain")
        let read = try DevnetManifest.load(from: dir)
        #expect(read.nodes.map(\.address) == ["10.213.9.2", "10.213.9.3"])
        #expect(read.nodes.map(\.netns) == ["t-n0", "t-n1"])
        #expect(throws: DevnetError.self) {
            try DevnetLayout.create(
                dir: dir.appendingPathComponent("x"), participants: 3, testHooks: false, binary: "/bin/true",
                hosts: hosts)
        }
        #expect((try? DevnetHost(parsing: "a-b_c.d=10.0.0.1")) == DevnetHost(netns: "a-b_c.d", address: "10.0.0.1"))
        #expect((try? DevnetHost(parsing: "a=10.0.0.256")) == nil)
    }

    @Test func loadingWithoutAManifestSaysHowToStartOne() {
        let dir = URL(fileURLWithPath: "/nonexistent/devnet")
        #expect(throws: DevnetError.self) { try DevnetManifest.load(from: dir) }
        #expect((try? DevnetManifest.load(from: dir)) == nil)
        do {
            _ = try DevnetManifest.load(from: dir)
        } catch {
            #expect("\(error)".contains("gonka devnet up --dir /nonexistent/devnet"))
        }
    }

    @Test(arguments: [
        ("not a url", "--peer"), ("http://127.0.0.1:1", nil),
    ])
    func joinFlagsAreChecked(peer: String, failingFlag: String?) {
        let check = {
            try JoinPlan.validate(
                peer: peer, chainID: "gonka-devnet", keyName: "validator", url: "http://127.0.0.1:9000",
                listens: [("--p2p-listen", "127.0.0.1:26656")], timeouts: "devnet", pocThreads: 1)
        }
        if let failingFlag {
            do {
                try check()
                Issue.record("\(peer) was accepted")
            } catch {
                #expect("\(error)".hasPrefix(failingFlag))
            }
        } else {
            #expect(throws: Never.self) { try check() }
        }
    }

    @Test func joinRefusesBadTimeoutsAndListens() {
        #expect(throws: DevnetError.self) {
            try JoinPlan.validate(
                peer: "http://127.0.0.1:1", chainID: nil, keyName: "validator", url: "http://127.0.0.1:9000",
                listens: [("--rpc-listen", "nowhere")], timeouts: "devnet", pocThreads: 1)
        }
        #expect(throws: DevnetError.self) {
            try JoinPlan.validate(
                peer: "http://127.0.0.1:1", chainID: nil, keyName: "validator", url: "http://127.0.0.1:9000",
                listens: [], timeouts: "slow", pocThreads: 1)
        }
    }
}
