import Foundation
import GonkaWire
import SwiftProtobuf
import Testing

@testable import ChainNode

/// ``TxIntake`` without sockets: the bounded backlog, its slices, and the gossip batches.
@Suite struct TxIntakeTests {
    @Test func theBacklogIsBoundedInBytesAndHandedOutInSlices() {
        // Room for 100 transactions of 52 bytes (100 bytes each with their bookkeeping).
        var intake = TxIntake(backlogLimitBytes: 100 * 100)
        let txs = (0..<105).map { Data(repeating: UInt8(truncatingIfNeeded: $0), count: 52) }
        let overflow = intake.enqueue(txs)
        let full = intake.enqueue([Data([1])])
        #expect(overflow == 5)
        #expect(full == 1)
        #expect(intake.backlogBytes == 100 * 100)
        var taken = 0
        var slices = 0
        while true {
            let (slice, drained) = intake.takeSlice(limit: TxIntake.checkSlice)
            taken += slice.count
            slices += 1
            if drained { break }
        }
        #expect(taken == 100)
        #expect(slices == (100 + TxIntake.checkSlice - 1) / TxIntake.checkSlice)
        #expect(intake.backlogBytes == 0)
        let afterDraining = intake.enqueue([Data([1])])
        #expect(afterDraining == 0)
        // One large transaction takes the room of many small ones.
        var large = TxIntake(backlogLimitBytes: 10_000)
        #expect(large.enqueue([Data(count: 9_000), Data(count: 2_000), Data(count: 10)]) == 2)
    }

    @Test func gossipIsCutIntoMessagesOfAboutOneMebibyte() throws {
        var intake = TxIntake()
        let nothing = intake.takeGossip()
        #expect(nothing.isEmpty)
        let tx = [UInt8](repeating: 7, count: 300_000)
        for _ in 0..<5 { intake.gossip(tx) }
        let payloads = intake.takeGossip()
        // Cut after the fourth (1.2 MB > 1 MiB); the fifth goes alone.
        #expect(try payloads.map { try Wire.MempoolTxs(serializedBytes: $0).txs.count } == [4, 1])
        let emptied = intake.takeGossip()
        #expect(emptied.isEmpty)
    }
}
