import Foundation
import Storage

/// Where a ledger benchmark keeps its state: SQLite files in a temporary directory of its own, or
/// in-memory stores (`--memory`). ``remove()`` deletes the directory; call it when the run ends.
struct ScratchStores {
    let directory: URL
    let memory: Bool

    init(memory: Bool) throws {
        self.memory = memory
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gonka-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// A new store named `name` (`name.sqlite` in the directory, or an in-memory database).
    func store(_ name: String) throws -> AuthenticatedStore {
        memory
            ? try AuthenticatedStore(inMemory: name)
            : try AuthenticatedStore(path: directory.appendingPathComponent("\(name).sqlite").path)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
