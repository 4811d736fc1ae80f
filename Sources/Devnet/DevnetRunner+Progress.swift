extension DevnetRunner {
    /// What a devnet start reports as it goes (`gonka devnet up` shows it on a progress line): each
    /// node's steps, which stay, and the current wait, which the next one replaces.
    public enum Progress: Sendable, Hashable, CustomStringConvertible {
        /// Node `node` (its moniker) reached `step`; `detail` says how (pid, height, model).
        case step(node: String, Step, detail: String)
        /// What the start waits for now.
        case waiting(String)

        /// A node's steps, in order: its process runs, it committed the block the start waits
        /// for, its API node serves the model.
        public enum Step: String, Sendable, Hashable {
            case started, synced, serving
        }

        public var description: String {
            switch self {
            case .step(let node, let step, let detail): "\(node)  \(step.rawValue)  \(detail)"
            case .waiting(let text): text
            }
        }
    }
}
