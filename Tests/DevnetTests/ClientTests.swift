import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import SwiftProtobuf
import Testing

/// The pure parts of GonkaClient: decoding the RPC contract's JSON, errors, SSE framing, tx building.
@Suite(.timeLimit(.minutes(2)), .hangGuard) struct ClientTests {
    // Literal answers in the shapes docs/RPC.md fixes.
    static let statusJSON = """
        {"chain_id":"gonka-devnet","moniker":"node0","node_id":"ab01","height":12,"block_hash":"cd02",
         "app_hash":"ef03","block_time_ms":1001,"catching_up":false,
         "peers":[{"id":"aa","address":"127.0.0.1:26666","outbound":true}],"mempool_size":3,
         "validator":{"address":"gonka1xyz","power":100},"consensus":{"height":13,"round":0,"step":"prevote"}}
        """

    @Test func decodesStatus() throws {
        let status = try JSONDecoder().decode(NodeStatus.self, from: Data(Self.statusJSON.utf8))
        #expect(status.chainID == "gonka-devnet")
        #expect(status.height == 12)
        #expect(status.appHash == "ef03")
        #expect(status.peers.map(\.id) == ["aa"] && status.peers.first?.outbound == true)
        #expect(status.validator?.power == 100)
        #expect(status.consensus.step == "prevote")
        let noValidator = Self.statusJSON.replacingOccurrences(
            of: #"{"address":"gonka1xyz","power":100}"#, with: "null")
        #expect(try JSONDecoder().decode(NodeStatus.self, from: Data(noValidator.utf8)).validator == nil)
    }

    @Test func decodesBlockTxAndBroadcast() throws {
        let block = """
            {"height":5,"hash":"aa","time_ms":1700000000000,"proposer":"0011","app_hash":"bb","last_block_hash":"cc",
             "num_txs":1,"txs":[{"hash":"dd","tx":"AQID"}],"commit":{"round":1,"signers":["0011","0022","0033"]}}
            """
        let decoded = try JSONDecoder().decode(BlockInfo.self, from: Data(block.utf8))
        #expect(decoded.txs.first?.bytes == [1, 2, 3])
        #expect(decoded.commit.signers.count == 3)
        #expect(decoded.commit.round == 1)

        let tx = """
            {"hash":"dd","height":5,"index":0,"code":0,"log":"",
             "events":[{"type":"transfer","attributes":{"amount":"10","recipient":"gonka1"}}]}
            """
        let result = try JSONDecoder().decode(TxResult.self, from: Data(tx.utf8))
        #expect(result.events.first?.attributes["amount"] == "10")

        let sync = try JSONDecoder().decode(BroadcastResult.self, from: Data(#"{"hash":"dd","code":0,"log":""}"#.utf8))
        #expect(sync.height == nil)
        let commit = try JSONDecoder().decode(
            BroadcastResult.self, from: Data(#"{"hash":"dd","height":9,"index":2,"code":1,"log":"insufficient"}"#.utf8))
        #expect(commit.height == 9 && commit.index == 2 && commit.code == 1)
    }

    @Test func decodesQueryRecords() throws {
        let address = SigningKey().publicKey.address
        let balance = """
            {"height":7,"key":"0102","value":{"address":"\(address)","amount":"1500000000"},"proof":{"siblings":[]}}
            """
        let result = try JSONDecoder().decode(QueryResult.self, from: Data(balance.utf8))
        #expect(try result.decodeValue(BalanceRecord.self)?.amount == Amount(ngonka: 1_500_000_000))
        let account = """
            {"height":7,"key":"03","value":{"address":"\(address)","sequence":4,"pub_key":null},"proof":null}
            """
        let record = try JSONDecoder().decode(QueryResult.self, from: Data(account.utf8)).decodeValue(
            AccountRecord.self)
        #expect(record?.sequence == 4 && record?.pubKey == nil)
        let missing = try JSONDecoder().decode(
            QueryResult.self, from: Data(#"{"height":7,"key":"03","value":null}"#.utf8))
        #expect(try missing.decodeValue(BalanceRecord.self) == nil)
        let params = try JSONDecoder().decode(
            QueryResult.self, from: Data(#"{"height":1,"key":"","value":{"min_gas_price":25}}"#.utf8))
        #expect(try params.decodeValue(ChainParams.self)?.minGasPrice == 25)
    }

    @Test func decodesEvents() throws {
        let block = try ChainEvent(
            name: "new_block", data: #"{"height":3,"hash":"aa","num_txs":2,"app_hash":"bb","time_ms":5}"#)
        guard case .newBlock(let newBlock) = block else {
            Issue.record("not a block event")
            return
        }
        #expect(newBlock.height == 3 && newBlock.numTxs == 2 && newBlock.appHash == "bb" && newBlock.timeMs == 5)
        let tx = try ChainEvent(name: "tx", data: #"{"hash":"aa","height":3,"index":0,"code":0,"log":""}"#)
        guard case .tx(let committed) = tx else { Issue.record("not a tx event"); return }
        #expect(committed.height == 3)
        let ledger = try ChainEvent(name: "ledger", data: #"{"height":3,"type":"transfer","amount":"1"}"#)
        guard case .ledger(let height, let type, _) = ledger else { Issue.record("not a ledger event"); return }
        #expect(height == 3 && type == "transfer")
        #expect(try ChainEvent(name: "future", data: "x") == .other(name: "future", data: "x"))
        #expect(throws: (any Error).self) { try ChainEvent(name: "new_block", data: "{}") }
        #expect(throws: (any Error).self) { try ChainEvent(name: "ledger", data: #"{"type":"x"}"#) }
    }

    @Test func sseParserFramesEventsAtAnySplit() {
        let stream =
            ": keepalive\r\nevent: new_block\r\ndata: {\"a\":1}\r\n\r\nevent: tx\ndata: line1\ndata: line2\n\n"
            + "data: default\n\nevent: half\ndata: never finished"
        let expected: [SSEParser.Event] = [
            .init(name: "new_block", data: #"{"a":1}"#), .init(name: "tx", data: "line1\nline2"),
            .init(name: "message", data: "default"),
        ]
        let bytes = Array(stream.utf8)
        for split in 0...bytes.count {
            var parser = SSEParser()
            let events = parser.feed(bytes[..<split]) + parser.feed(bytes[split...]) + parser.finish()
            #expect(events == expected, "split at \(split)")
        }
        var bytewise = SSEParser()
        #expect(bytes.flatMap { bytewise.feed([$0]) } == expected)
    }

    @Test func serverErrorsKeepTheNodesCodeAndMessage() {
        let error = ChainClient.serverError(
            status: 400, body: Data(#"{"error":{"code":"bad_sequence","message":"expected 3, got 1"}}"#.utf8))
        #expect(error.httpStatus == 400)
        #expect(error.serverCode == "bad_sequence")
        #expect(error.serverMessage == "expected 3, got 1")
        #expect(error.shortDescription == "http_error")
        let plain = ChainClient.serverError(status: 502, body: Data("Bad Gateway".utf8))
        #expect(plain.serverCode == "http_502")
        #expect(plain.description.contains("Bad Gateway"))
    }

    @Test(arguments: ["", "localhost:26657", "ftp://x:1", "http://", "http://host:1/path", "http://h:1?x=1"])
    func rejectsUnusableNodeURLs(url: String) {
        #expect(throws: ChainClientError.invalidURL(url)) { try ChainClient(baseURL: url) }
    }

    @Test func acceptsNodeURLsWithATrailingSlash() throws {
        #expect(try ChainClient(baseURL: "http://127.0.0.1:26657/").baseURL == "http://127.0.0.1:26657")
    }

    @Test func refusesMalformedArgumentsBeforeSending() async {
        // Port 1 on loopback: nothing is sent, so nothing needs to listen.
        let client = try? ChainClient(baseURL: "http://127.0.0.1:1", timeout: .seconds(2))
        await #expect(throws: ChainClientError.self) { try await client?.tx("xyz") }
        await #expect(throws: ChainClientError.self) { try await client?.query("balance/../../etc") }
        do {
            _ = try await client?.tx(String(repeating: "g", count: 64))
            Issue.record("a non-hex hash was sent")
        } catch {
            #expect(error.shortDescription == "invalid_argument")
        }
    }

    @Test(.timeLimit(.minutes(3))) func unreachableNodeIsAClearError() async throws {
        let port = try Self.closedPort()
        let client = try ChainClient(baseURL: "http://127.0.0.1:\(port)", timeout: .seconds(5))
        do {
            _ = try await client.status()
            Issue.record("a closed port answered")
        } catch {
            #expect(error.shortDescription == "connection_refused" || error.shortDescription == "timeout")
            #expect(error.description.contains("127.0.0.1:\(port)"))
        }
    }

    @Test(arguments: [UInt64(0), 1, 10, 1_000, 1_000_000])
    func feeCoversTheSignedSizeExactly(price: UInt64) throws {
        let key = try SigningKey(seed: [UInt8](repeating: 7, count: 32))
        let builder = TxBuilder(chainID: "gonka-devnet", key: key, minGasPrice: price)
        let recipient = SigningKey().publicKey.address
        for sequence: UInt64 in [0, 1, 300, 1 << 40] {
            let tx = try builder.send(to: recipient, amount: Amount(ngonka: 12_345), sequence: sequence, memo: "hi")
            // The fee is the smallest that pays for the final size: price × size, exactly.
            #expect(tx.fee == price * UInt64(tx.bytes.count))
            let envelope = try Wire.Tx(serializedBytes: tx.bytes)
            let body = try Wire.TxBody(serializedBytes: envelope.bodyBytes)
            #expect(body == tx.body)
            #expect(body.sequence == sequence && body.chainID == "gonka-devnet" && body.memo == "hi")
            #expect(body.signer == key.publicKey.address.description)
            guard case .send(let send)? = body.messages.first?.sum else {
                Issue.record("not a send")
                continue
            }
            #expect(send.toAddress == recipient.description && send.amount == 12_345)
            let signed = SignBytes.make(.tx, chainID: "gonka-devnet", Array(envelope.bodyBytes))
            #expect(key.publicKey.isValidSignature(envelope.signature, for: signed))
            #expect(tx.hash == Hash.sha256(tx.bytes).hex)
        }
    }

    @Test func feeOverflowIsAnError() throws {
        let builder = TxBuilder(chainID: "c", key: SigningKey(), minGasPrice: .max / 2)
        #expect(throws: TxBuilderError.feeOverflow) {
            try builder.send(to: SigningKey().publicKey.address, amount: Amount(ngonka: 1), sequence: 0)
        }
    }

    /// A loopback port nothing listens on (bound, then released).
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
