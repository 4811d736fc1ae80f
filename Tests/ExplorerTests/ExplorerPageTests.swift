import Explorer
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import Hummingbird
import HummingbirdTesting
import Ledger
import Logging
import Testing

/// Every explorer page against a real chain node (in process, real sockets), through the router:
/// figures equal the chain's answers, a participant URL with HTML renders as text, and every class
/// of bad input gets a 400 or 404 page, never a 500.
@Suite(.serialized, .hangGuard) struct ExplorerPageTests {
    static func explorer(_ client: ChainClient) throws -> Application<RouterResponder<BasicRequestContext>> {
        var logger = Logger(label: "test.explorer")
        logger.logLevel = .critical
        let router = Router(context: BasicRequestContext.self)
        try Explorer(client: client, logger: logger).addRoutes(to: router)
        return Application(router: router)
    }

    static func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    @Test(.timeLimit(.minutes(2))) func pagesShowTheChainsFigures() async throws {
        let chain = try await ExplorerChain()
        do {
            let client = chain.client
            let record = try #require(try await client.inference(chain.inferenceID))
            let participants = try await client.participants()
            let status = try await client.status()
            try await Self.explorer(client).test(.router) { http in
                let before = try await client.status().height
                try await http.execute(uri: "/", method: .get) { response in
                    let after = try await client.status().height
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    let html = Self.text(response.body)
                    #expect(html.contains("<p class=\"big\" id=\"epoch\">0</p>"))
                    #expect(html.contains(ExplorerChain.model.id))
                    #expect(html.contains("id=\"participant-count\">1<"))
                    #expect(html.contains("id=\"validator-count\">1<"))
                    // The height shown is the node's at the moment of the request.
                    let shown = try #require(Self.number(after: "id=\"height\" data-live=\"height\">", in: html))
                    #expect(shown >= before && shown <= after)
                }
                try await http.execute(uri: "/explorer/participants", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = Self.text(response.body)
                    let p = try #require(participants.first)
                    #expect(html.contains("data-address=\"\(p.address)\""))
                    #expect(html.contains("<td class=\"num weight\">\(p.weight)</td>"))
                    #expect(html.contains("<td class=\"status\">\(p.status)</td>"))
                    Self.expectEscaped(html)
                }
                try await http.execute(uri: "/explorer/participant/\(chain.participant)", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = Self.text(response.body)
                    #expect(html.contains("<dd id=\"address\">\(chain.participant)</dd>"))
                    Self.expectEscaped(html)
                }
                try await http.execute(uri: "/explorer/inference/\(chain.inferenceID)", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = Self.text(response.body)
                    #expect(html.contains("<dd id=\"cost\">\(record.cost)</dd>"))
                    #expect(html.contains("<dd id=\"refund\">\(record.refund)</dd>"))
                    #expect(html.contains("<dd id=\"status\">\(record.status)</dd>"))
                    #expect(html.contains("13 completion"))
                }
                // The inference's id also leads to it through the search box (uppercase too).
                try await http.execute(
                    uri: "/explorer/search?q=\(chain.inferenceID.uppercased())", method: .get
                ) { response in
                    #expect(response.status == .seeOther)
                    #expect(response.headers[.location] == "/explorer/inference/\(chain.inferenceID)")
                }
                let tip = try await client.status().height
                try await http.execute(uri: "/explorer/blocks", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(Self.text(response.body).contains("href=\"/explorer/block/\(tip)\""))
                }
                // Paging back to the first block (the chain may be far past it by now).
                try await http.execute(uri: "/explorer/blocks?before=2", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = Self.text(response.body)
                    #expect(html.contains("href=\"/explorer/block/1\""))
                    #expect(!html.contains("href=\"/explorer/block/2\""))
                    #expect(!html.contains("id=\"older\""))
                }
                let block = try await client.block(1)
                try await http.execute(uri: "/explorer/block/1", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(Self.text(response.body).contains(block.hash))
                }
                // The Start tx's page, found through the block that holds it.
                let startTx = try #require(try await Self.firstTx(client, upTo: status.height + 3))
                let tx = try await client.tx(startTx)
                try await http.execute(uri: "/explorer/tx/\(startTx)", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = Self.text(response.body)
                    #expect(html.contains("href=\"/explorer/block/\(tx.height)\""))
                    #expect(html.contains(tx.code == 0 ? "success" : "failed"))
                }
                for (path, type) in [("/explorer/style.css", "text/css"), ("/explorer/live.js", "text/javascript")] {
                    try await http.execute(uri: path, method: .get) { response in
                        #expect(response.status == .ok)
                        #expect(response.headers[.contentType]?.hasPrefix(type) == true)
                    }
                }
            }
        } catch {
            await chain.stop()
            throw error
        }
        await chain.stop()
    }

    /// The participants pages' collateral, jail, last settlement, executor misses and invalidations
    /// are the chain's own answers to `/query/collateral`, `/query/rewards`, `/query/misses` and
    /// `/query/validations`, fetched here independently of the explorer.
    @Test(.timeLimit(.minutes(2))) func participantColumnsAreTheChainsAnswers() async throws {
        let chain = try await ExplorerChain()
        do {
            let client = chain.client
            let collateral = try await client.collateral(chain.participant)
            #expect(collateral.deposit == Amount(ngonka: ExplorerChain.collateral))
            let jailed =
                collateral.tombstoned
                ? "tombstoned" : collateral.jailed ? "jailed until \(collateral.jailedUntil)" : "no"
            let settlements = try await client.rewards(chain.participant)
            let standing = try await client.validationEpoch().participants.first {
                $0.address == chain.participant.description
            }
            let missed = standing.map { String($0.missed) } ?? "—"
            let invalidated = standing.map { String($0.invalidated) } ?? "—"
            let misses = try await client.misses(chain.participant)
            let weight =
                try await client.epochRecord(0).participants.first {
                    $0.address == chain.participant.description
                }.map { String($0.weight) } ?? "—"
            try await Self.explorer(client).test(.router) { http in
                try await http.execute(uri: "/explorer/participants", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = Self.text(response.body)
                    #expect(html.contains("<td class=\"num collateral\">\(collateral.deposit)</td>"))
                    #expect(html.contains("<td class=\"jailed\">\(jailed)</td>"))
                    #expect(html.contains("<td class=\"num missed\">\(missed)</td>"))
                    #expect(html.contains("<td class=\"num invalidated\">\(invalidated)</td>"))
                    #expect(html.contains("<td class=\"settlement\">\(Self.settlement(settlements.first))</td>"))
                    // The participant's URL is not a plain http://host:port: never probed.
                    #expect(html.contains("<td class=\"health\">—</td>"))
                    Self.expectEscaped(html)
                }
                try await http.execute(uri: "/explorer/participant/\(chain.participant)", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = Self.text(response.body)
                    #expect(html.contains("<dd id=\"collateral\">\(collateral.deposit)</dd>"))
                    #expect(html.contains("<dd id=\"jailed\">\(jailed)</dd>"))
                    #expect(html.contains("<dd id=\"missed\">\(missed)</dd>"))
                    #expect(html.contains("<dd id=\"last-settlement\">\(Self.settlement(settlements.first))</dd>"))
                    #expect(html.contains("\(misses.reported) reported, \(misses.expired) expired"))
                    // The history as three charts, a bar per epoch; epoch 0's weight bar names the
                    // chain's weight (the largest, so its bar is the full 120 px).
                    for id in ["weight-chart", "reward-chart", "invalid-chart"] {
                        #expect(html.contains("<svg id=\"\(id)\""), "no \(id)")
                    }
                    #expect(html.contains("<title>epoch 0: weight \(weight)</title>"))
                    Self.expectEscaped(html)
                }
            }
        } catch {
            await chain.stop()
            throw error
        }
        await chain.stop()
    }

    /// The newest settlement as the pages write it: amount, fate and epoch; "—" without one.
    static func settlement(_ s: SettlementInfo?) -> String {
        guard let s else { return "—" }
        let fate = s.reason.isEmpty ? s.status : "\(s.status): \(s.reason)"
        return "\(Amount(ngonka: s.reward + s.work).gnkString) \(fate) (epoch \(s.epoch))"
    }

    /// `part` of `whole` in percent, one decimal, rounded half up.
    static func percent(_ part: UInt64, of whole: UInt64) -> String {
        guard whole > 0 else { return "—" }
        let tenths = (part * 1000 + whole / 2) / whole
        return "\(tenths / 10).\(tenths % 10) %"
    }

    /// The proposals page and a proposal's page: status, deposit, voting end and the tally with
    /// its shares equal the chain's `/query/proposals` and `/query/proposal/ID`; the titles
    /// (`<script>` in them) render as text.
    @Test(.timeLimit(.minutes(2))) func proposalsShowTheChainsTallies() async throws {
        let chain = try await ExplorerChain()
        do {
            let client = chain.client
            let proposals = try await client.proposals()
            let detail = try #require(try await client.proposal(chain.votingProposal))
            let tally = detail.tally
            #expect(detail.proposal.status == "voting_period")
            #expect(tally.yes > 0 && tally.yes == tally.totalPower)
            try await Self.explorer(client).test(.router) { http in
                try await http.execute(uri: "/", method: .get) { response in
                    #expect(Self.text(response.body).contains("<a href=\"/explorer/proposals\">Proposals</a>"))
                }
                try await http.execute(uri: "/explorer/proposals", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = Self.text(response.body)
                    for p in proposals {
                        #expect(html.contains("<tr data-proposal=\"\(p.id)\">"))
                        #expect(html.contains("<td class=\"num deposit\">\(p.totalDeposit)</td>"))
                    }
                    let voting = try #require(Self.row("data-proposal=\"\(chain.votingProposal)\"", in: html))
                    #expect(voting.contains("<td class=\"status open\">voting_period</td>"))
                    #expect(voting.contains("<td class=\"num voting-end\">\(detail.proposal.votingEndHeight)</td>"))
                    #expect(
                        voting.contains(
                            "<td class=\"num yes\">\(tally.yes) <span class=\"share\">"
                                + "\(Self.percent(tally.yes, of: tally.totalPower))</span></td>"))
                    #expect(voting.contains("<td class=\"num no\">\(tally.no) <span class=\"share\">0.0 %</span></td>"))
                    let waiting = try #require(Self.row("data-proposal=\"\(chain.depositProposal)\"", in: html))
                    #expect(waiting.contains("<td class=\"status\">deposit_period</td>"))
                    #expect(waiting.contains("<td class=\"num yes\">— <span class=\"share\">—</span></td>"))
                    Self.expectTitleEscaped(html)
                }
                try await http.execute(uri: "/explorer/proposal/\(chain.votingProposal)", method: .get) { response in
                    #expect(response.status == .ok)
                    let html = Self.text(response.body)
                    #expect(html.contains("<dd id=\"status\">voting_period</dd>"))
                    #expect(html.contains("<dd id=\"deposit\">\(detail.proposal.totalDeposit)</dd>"))
                    #expect(html.contains("<dd id=\"outcome-now\">\(detail.outcomeNow)</dd>"))
                    #expect(html.contains("<td class=\"num yes\">\(tally.yes)</td>"))
                    #expect(
                        html.contains(
                            "<td class=\"num yes-share\">\(Self.percent(tally.yes, of: tally.totalPower))</td>"))
                    #expect(html.contains("<span id=\"total-power\">\(tally.totalPower)</span>"))
                    for vote in detail.votes {
                        #expect(
                            html.contains(
                                "<a href=\"/explorer/participant/\(vote.voter)\">\(vote.voter)</a></td><td>\(vote.option)</td>"
                            ))
                    }
                    #expect(html.contains("&lt;img src=x onerror=alert(2)&gt; &amp; more"))
                    Self.expectTitleEscaped(html)
                }
                let unknown = (proposals.map(\.id).max() ?? 0) + 100
                let cases: [(uri: String, status: HTTPResponse.Status, says: String)] = [
                    ("/explorer/proposal/\(unknown)", .notFound, "Unknown proposal"),
                    ("/explorer/proposal/abc", .badRequest, "Not a proposal id"),
                    ("/explorer/proposal/-1", .badRequest, "Not a proposal id"),
                    ("/explorer/proposal/1.5", .badRequest, "Not a proposal id"),
                    ("/explorer/proposal/99999999999999999999999", .badRequest, "Not a proposal id"),
                    ("/explorer/proposal/%3Cscript%3E", .badRequest, "Not a proposal id"),
                ]
                for item in cases {
                    try await http.execute(uri: item.uri, method: .get) { response in
                        #expect(response.status == item.status, "\(item.uri)")
                        let html = Self.text(response.body)
                        #expect(html.contains(item.says), "\(item.uri): \(html.prefix(300))")
                        #expect(!html.contains("<script>"), "\(item.uri)")
                    }
                }
            }
        } catch {
            await chain.stop()
            throw error
        }
        await chain.stop()
    }

    /// The table row holding `marker`, from its `<tr` to its `</tr>`.
    static func row(_ marker: String, in html: String) -> String? {
        guard let at = html.range(of: marker), let end = html[at.upperBound...].range(of: "</tr>") else { return nil }
        return String(html[at.lowerBound..<end.upperBound])
    }

    /// The proposals' title is on the page as text only.
    static func expectTitleEscaped(_ html: String) {
        #expect(html.contains("&lt;/td&gt;&lt;script&gt;alert(&quot;gov&quot;)&lt;/script&gt;"))
        #expect(!html.contains("<script>alert"))
        #expect(!html.contains("<img src=x"))
    }

    /// The participant's URL is on the page as text: escaped, never as a tag.
    static func expectEscaped(_ html: String) {
        #expect(html.contains("http://127.0.0.1:9000/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains("<script>alert"))
        #expect(!html.contains("\"><script>"))
    }

    static func number(after marker: String, in html: String) -> UInt64? {
        guard let range = html.range(of: marker) else { return nil }
        return UInt64(html[range.upperBound...].prefix { $0.isNumber || $0 == "," }.filter { $0 != "," })
    }

    static func firstTx(_ client: ChainClient, upTo tip: UInt64) async throws -> String? {
        for height in 1...tip {
            guard let block = try? await client.block(height) else { break }
            if let tx = block.txs.first { return tx.hash }
        }
        return nil
    }

    /// Each class of bad input: its status and a page that says what was wrong, never a 500.
    @Test(.timeLimit(.minutes(2))) func badInputGetsFriendlyPages() async throws {
        let chain = try await ExplorerChain()
        do {
            let stranger = TestChain.key(seed: 77, index: 1).publicKey.address
            let unknownHash = String(repeating: "ab", count: 32)
            let cases: [(uri: String, status: HTTPResponse.Status, says: String)] = [
                ("/explorer/participant/\(stranger)", .notFound, "Unknown participant"),
                ("/explorer/participant/not-an-address", .badRequest, "Not an address"),
                ("/explorer/participant/%3Cscript%3E", .badRequest, "Not an address"),
                ("/explorer/inference/xyz", .badRequest, "Not an inference id"),
                ("/explorer/inference/\(String(repeating: "g", count: 64))", .badRequest, "Not an inference id"),
                ("/explorer/inference/\(unknownHash)", .notFound, "Unknown inference"),
                ("/explorer/block/99999999", .notFound, "No such block"),
                ("/explorer/block/0", .notFound, "No such block"),
                ("/explorer/block/abc", .badRequest, "Not a height"),
                ("/explorer/block/99999999999999999999999", .badRequest, "Not a height"),
                ("/explorer/blocks?before=-1", .badRequest, "Not a height"),
                ("/explorer/tx/zz", .badRequest, "Not a transaction hash"),
                ("/explorer/tx/\(unknownHash)", .notFound, "Not found"),
                ("/explorer/search?q=%3Cb%3E", .badRequest, "Nothing to search for"),
                ("/explorer/nothing/here", .notFound, "Page not found"),
                ("/?q=" + String(repeating: "x", count: 100_000), .badRequest, "Request too long"),
                ("/explorer/participants?" + String(repeating: "a=1&", count: 5_000), .badRequest, "Request too long"),
            ]
            try await Self.explorer(chain.client).test(.router) { http in
                for item in cases {
                    try await http.execute(uri: item.uri, method: .get) { response in
                        #expect(response.status == item.status, "\(item.uri.prefix(80))")
                        #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                        let html = Self.text(response.body)
                        #expect(html.contains(item.says), "\(item.uri.prefix(80)): \(html.prefix(300))")
                        #expect(!html.contains("<script>"), "\(item.uri.prefix(80))")
                    }
                }
            }
        } catch {
            await chain.stop()
            throw error
        }
        await chain.stop()
    }

    /// A chain node that does not answer: a 502 page that says so, for every page.
    @Test(.timeLimit(.minutes(1))) func unreachableChainGetsA502Page() async throws {
        let port = try LoopbackSocket.freePort()
        let client = try ChainClient(baseURL: "http://127.0.0.1:\(port)", timeout: .seconds(2))
        try await Self.explorer(client).test(.router) { http in
            for uri in ["/", "/explorer/participants", "/explorer/blocks", "/explorer/block/1"] {
                try await http.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .badGateway, "\(uri)")
                    #expect(Self.text(response.body).contains("did not answer"), "\(uri)")
                }
            }
        }
    }
}
