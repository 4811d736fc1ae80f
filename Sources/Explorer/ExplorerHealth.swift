import GonkaClient
import Synchronization

/// The participants pages' health column: `GET {url}/health` of each participant's API node, with
/// its latency. Bounded so it can neither hang nor slow a page by much: each probe has a deadline
/// of ``timeout``, at most ``parallel`` run at once, and the whole round is cut at ``budget``
/// (what has not answered by then reads "no answer"). Answers are kept for ``freshFor``, so
/// reloading a page, or many readers at once, do not probe again.
///
/// Only a plain `http(s)://host[:port]` URL is probed (the form an API node registers); anything
/// else (a path, a query, HTML) shows "—" and is never fetched. The answer's body is not read into
/// the page, only its status.
final class ExplorerHealth: Sendable {
    /// What the column shows for one URL.
    struct Answer: Sendable, Hashable {
        var text: String
        var ok: Bool

        static let notProbed = Answer(text: ExplorerFormat.missing, ok: false)
    }

    static let timeout: Duration = .milliseconds(800)
    static let budget: Duration = .milliseconds(900)
    static let freshFor: Duration = .seconds(5)
    static let parallel = 8

    private struct Entry {
        var at: ContinuousClock.Instant
        var answer: Answer
    }

    private let cache = Mutex<[String: Entry]>([:])

    init() {}

    /// The answer for each of `urls` (cached ones at once, the rest probed now).
    func check(_ urls: [String]) async -> [String: Answer] {
        let now = ContinuousClock.now
        let (known, stale) = cache.withLock { cache -> ([String: Answer], [String]) in
            cache = cache.filter { now - $0.value.at < Self.freshFor }
            var known: [String: Answer] = [:]
            var stale: [String] = []
            for url in Set(urls) {
                if let entry = cache[url] {
                    known[url] = entry.answer
                } else if Self.client(url) == nil {
                    known[url] = .notProbed
                } else {
                    stale.append(url)
                }
            }
            return (known, stale.sorted())
        }
        guard !stale.isEmpty else { return known }
        let probed = await Self.probe(stale)
        let done = ContinuousClock.now
        var answers = known
        cache.withLock { cache in
            for url in stale {
                let answer = probed[url] ?? Answer(text: "no answer", ok: false)
                cache[url] = Entry(at: done, answer: answer)
                answers[url] = answer
            }
        }
        return answers
    }

    /// A client of `url` when it is a plain `http(s)://host[:port]`.
    static func client(_ url: String) -> ChainClient? {
        try? ChainClient(baseURL: url, timeout: timeout)
    }

    /// Probes `urls`, ``parallel`` at a time, until all answered or ``budget`` ran out.
    static func probe(_ urls: [String]) async -> [String: Answer] {
        await withTaskGroup(of: (String, Answer)?.self) { group in
            group.addTask {
                try? await Task.sleep(for: budget)
                return nil
            }
            var next = urls.makeIterator()
            for _ in 0..<parallel {
                guard let url = next.next() else { break }
                group.addTask { (url, await probe(url)) }
            }
            var answers: [String: Answer] = [:]
            while let result = await group.next() {
                guard let (url, answer) = result else { break }
                answers[url] = answer
                if answers.count == urls.count { break }
                if let url = next.next() { group.addTask { (url, await probe(url)) } }
            }
            group.cancelAll()
            return answers
        }
    }

    /// One `GET {url}/health`: "ok, 3 ms", "HTTP 503", "no answer" (deadline) or "down".
    static func probe(_ url: String) async -> Answer {
        guard let client = client(url) else { return .notProbed }
        let start = ContinuousClock.now
        do {
            let (status, _) = try await client.rawGET("/health")
            let elapsed = ContinuousClock.now - start
            let ms = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
            return status == 200 ? Answer(text: "ok, \(ms) ms", ok: true) : Answer(text: "HTTP \(status)", ok: false)
        } catch {
            if error.shortDescription == "timeout" { return Answer(text: "no answer", ok: false) }
            return Answer(text: "down", ok: false)
        }
    }
}
