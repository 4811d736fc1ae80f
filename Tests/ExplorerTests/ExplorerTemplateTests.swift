import Foundation
import GonkaClient
import GonkaCore
import Mustache
import Testing

@testable import Explorer

/// The templates' own rules: nothing is written unescaped, and the live relay passes only the
/// fields the script reads.
@Suite struct ExplorerTemplateTests {
    /// `{{{x}}}` and `{{&x}}` write a value raw: no template may use them.
    @Test func noTemplateWritesAValueUnescaped() {
        for (name, source) in ExplorerTemplates.all {
            #expect(!source.contains("{{{"), "\(name)")
            #expect(!source.contains("{{&"), "\(name)")
        }
    }

    /// Every kind of string from the chain, rendered through a page: `<`, `>`, `&`, quotes escaped.
    @Test func chainStringsAreEscaped() throws {
        let library = try ExplorerTemplates.library()
        let hostile = "<img src=x onerror=alert(1)>\"'&"
        let page = ErrorPage(
            frame: PageFrame(title: hostile, chainID: hostile, height: "1", tab: ""), status: "404",
            heading: hostile, message: hostile)
        let html = try #require(library.render(page, withTemplate: "error"))
        #expect(!html.contains("<img"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"))
    }

    @Test func relayPassesBlocksAndLedgerTypes() throws {
        let block = ChainEvent.newBlock(.init(height: 7, hash: "ab", numTxs: 2, appHash: "cd", timeMs: 1000))
        #expect(
            Explorer.relayed(block)
                == "event: new_block\ndata: {\"app_hash\":\"cd\",\"hash\":\"ab\",\"height\":7,\"num_txs\":2,\"time_ms\":1000}\n\n"
        )
        let ledger = ChainEvent.ledger(height: 9, type: "inference_finished\n\ndata: x", data: .null)
        let text = try #require(Explorer.relayed(ledger))
        // A type with line breaks stays inside one JSON string: one event, one data line.
        #expect(text.components(separatedBy: "\n\n").count == 2)
        #expect(text.hasPrefix("event: ledger\ndata: {\"height\":9,\"type\":\"inference_finished\\n\\ndata: x\"}"))
        #expect(Explorer.relayed(.tx(.init(hash: "h", height: 1, index: 0, code: 0, log: ""))) == nil)
    }

    @Test func formatting() {
        #expect(ExplorerFormat.grouped(1_234_567) == "1,234,567")
        #expect(ExplorerFormat.grouped(12) == "12")
        #expect(ExplorerFormat.percent(1, of: 8) == "12.5 %")
        #expect(ExplorerFormat.percent(1, of: 0) == "—")
        #expect(ExplorerFormat.seconds(ms: 1_250) == "1.25 s")
        #expect(ExplorerFormat.time(ms: 1_767_225_600_000) == "2026-01-01 00:00:00 UTC")
    }
}
