import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import Logging
import ServiceLifecycle
import Testing

@testable import APINode

/// A listener that cannot start makes `publicPort()` fail with why, instead of waiting forever
/// (a test waiting on it stalled the whole run until the hang guard ended it).
@Suite(.hangGuard)
struct ListenerStartupTests {
    @Test(.timeLimit(.minutes(1))) func aPortInUseIsAnErrorNotAnEndlessWait() async throws {
        let taken = try LoopbackSocket(listening: 4)
        defer { taken.close() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("listener-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let configuration = APINodeConfiguration(
            port: taken.port, chainID: TestChain.chainID, key: SigningKey(),
            payloadDirectory: dir.appendingPathComponent("payloads"))
        let client = try ChainClient(baseURL: "http://127.0.0.1:\(try LoopbackSocket.freePort())", timeout: .seconds(2))
        let node = try APINode(configuration: configuration, chainClient: client, logger: TestNet.logger("listener"))
        let services = APINodeServices(node: node)
        let group = ServiceGroup(
            configuration: .init(services: services.services(), logger: TestNet.logger("listener-group")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try? await group.run() }
            do {
                let port = try await services.publicPort()
                Issue.record("listening on \(port), which another socket holds")
            } catch {
                #expect("\(error)".contains("in use"), "\(error)")
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
