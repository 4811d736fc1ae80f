import ArgumentParser
import Devnet
import Foundation
import GonkaClient
import GonkaCore

extension Devnet {
    /// `gonka devnet fund ADDR AMOUNT`
    struct Fund: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send AMOUNT (e.g. 10gnk, 5000ngonka) from the devnet faucet to ADDR; waits for the block.")
        @OptionGroup var dir: DirOptions
        @Argument(help: "The bech32 address to fund.") var address: String
        @Argument(help: "The amount: 1.5gnk, 2000ngonka or a plain ngonka number.") var amount: String

        func run() async throws {
            let manifest = try DevnetManifest.load(from: dir.url)
            let recipient = try parseAddressArgument(address, name: "ADDR")
            let value: Amount
            do {
                value = try Amount(parsing: amount)
            } catch {
                throw CLIError("AMOUNT \(amount): \(error)")
            }
            guard value.ngonka > 0 else { throw CLIError("AMOUNT must be positive") }
            let key = try DevnetFaucet.key(manifest)
            let node = try DevnetRunner.firstRunningNode(manifest, dir: dir.url)
            let (tx, result) = try await DevnetFaucet.send(value, to: recipient, key: key, node: node)
            guard result.code == 0 else { throw CLIError("the transfer failed: \(result.log)") }
            print("sent \(value) to \(recipient) (tx \(tx.hash), height \(result.height ?? 0))")
        }
    }
}
