import Foundation
import Testing

@testable import APINode

/// The phase timings of the network path: marks, the `Server-Timing` form, and the first-token
/// scan the TA uses on the relayed stream.
struct PathTraceTests {
    @Test func phasesAreTheTimesBetweenMarksInTheOrderTaken() {
        let t0 = ContinuousClock.now
        var trace = PathTrace(.taReceived, at: t0)
        trace.mark(.taVerified, at: t0 + .microseconds(80))
        trace.mark(.taCounted, at: t0 + .microseconds(580))
        trace.mark(.taVerified, at: t0 + .seconds(9))  // taken twice: the first instant stays
        trace.mark(.taHead, at: t0 + .milliseconds(3))
        #expect(trace.marks.map(\.mark) == [.taReceived, .taVerified, .taCounted, .taHead])
        #expect(trace.instant(of: .taVerified) == t0 + .microseconds(80))
        let phases = trace.phases
        #expect(phases.map(\.name) == ["ta-verify", "ta-count", "ta-forward"])
        #expect(abs(phases[0].milliseconds - 0.08) < 1e-9)
        #expect(abs(phases[1].milliseconds - 0.5) < 1e-9)
        #expect(abs(phases[2].milliseconds - 2.42) < 1e-9)
        #expect(trace.serverTiming() == "ta-verify;dur=0.080, ta-count;dur=0.500, ta-forward;dur=2.420")
        #expect(trace.serverTiming(after: "exec-verify;dur=0.150").hasPrefix("exec-verify;dur=0.150, ta-verify;"))
    }

    @Test func serverTimingRoundTripsAndSkipsWhatItCannotRead() {
        let t0 = ContinuousClock.now
        var trace = PathTrace(.execReceived, at: t0)
        trace.mark(.execVerified, at: t0 + .microseconds(123))
        trace.mark(.execRewritten, at: t0 + .microseconds(200))
        let parsed = PathTrace.parseServerTiming(trace.serverTiming())
        #expect(parsed.map(\.name) == ["exec-verify", "exec-rewrite"])
        #expect(abs(parsed[0].milliseconds - 0.123) < 1e-9 && abs(parsed[1].milliseconds - 0.077) < 1e-9)
        // Another server's header, damaged entries, a description parameter, negative and
        // non-numeric durations: the readable entries come back, nothing throws.
        let mixed = PathTrace.parseServerTiming(
            #"cache;desc="Cache Read";dur=23.2, db;dur=abc, ;dur=1, miss, x;dur=-4, y ; dur=0.5,,z;dur=nan"#)
        #expect(mixed.map(\.name) == ["cache", "y"])
        #expect(mixed.map(\.milliseconds) == [23.2, 0.5])
        #expect(PathTrace.parseServerTiming("").isEmpty)
        #expect(PathTrace.parseServerTiming(String(repeating: ",;=", count: 1000)).isEmpty)
    }

    @Test func marksAreDeclaredInPathOrder() {
        // The bench and the tests order phases by the enum: the TA's steps, then the executor's.
        let ta: [PathTrace.Mark] = [
            .taReceived, .taVerified, .taCounted, .taEscrowed, .taDrawn, .taHead, .taFirstByte, .taFirstToken, .taEnd,
        ]
        let executor: [PathTrace.Mark] = [
            .execReceived, .execVerified, .execRewritten, .execMLHead, .execMLFirstToken, .execFirstRelayed,
            .execMLEnd, .execEnd, .execStored,
        ]
        #expect(ta.sorted() == ta && executor.sorted() == executor)
        #expect(Set(PathTrace.Mark.allCases.map(\.rawValue)).count == PathTrace.Mark.allCases.count)
    }

    @Test func firstTokenScanFindsTheFirstTextOnceAcrossBufferSplits() {
        let role = #"data: {"choices":[{"delta":{"role":"assistant","content":""}}]}"# + "\n\n"
        let token = #"data: {"choices":[{"delta":{"content":"Hi"}}]}"# + "\n\n"
        // The role chunk alone is not the first token.
        var scan = FirstTokenScan()
        let afterRole = scan.push(Array(role.utf8))
        let afterToken = scan.push(Array(token.utf8))
        let again = scan.push(Array(token.utf8))
        #expect(!afterRole && afterToken)
        #expect(!again, "true exactly once")
        // Split at every byte of the stream: found in the buffer that completes `"content":"H`.
        let stream = Array((role + token).utf8)
        let key = Array(#""content":"H"#.utf8)
        let firstText = (0...(stream.count - key.count)).first { Array(stream[$0..<($0 + key.count)]) == key }!
        for cut in 1..<stream.count {
            var split = FirstTokenScan()
            let a = split.push(stream[..<cut])
            let b = split.push(stream[cut...])
            #expect(a == (cut >= firstText + key.count) && b == !a, "cut at \(cut)")
        }
        // Completions stream "text".
        var completion = FirstTokenScan()
        let completionText = completion.push(Array(#"data: {"choices":[{"text":" 1"}]}"#.utf8))
        #expect(completionText)
        // Bytes that never carry text (errors, garbage, [DONE]) never match.
        var none = FirstTokenScan()
        let matches = [
            none.push(Array(#"data: {"error":{"message":"x"}}"#.utf8)), none.push([0xFF, 0x00, 0x22, 0x22]),
            none.push(Array("data: [DONE]\n\n".utf8)),
        ]
        #expect(matches == [false, false, false])
    }

    @Test func traceLogKeepsTheNewestUpToItsCapacity() {
        let log = PathTraceLog(capacity: 3)
        for n in 0..<5 { log.append(PathTrace(.taReceived), inferenceID: "id\(n)") }
        #expect(log.all.map(\.inferenceID) == ["id2", "id3", "id4"])
        #expect(log.entries(for: "id0").isEmpty && log.entries(for: "id4").count == 1)
    }
}
