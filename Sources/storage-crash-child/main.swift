// Test helper for `StorageTests` (crash safety): opens the state store at the path given as the
// only argument and commits `StorageCrashWorkload` versions latest+1, latest+2, … forever, printing
// "committed <v>" after each commit, until the test kills it with SIGKILL.
import Foundation
import GonkaTestKit
import Storage

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: storage-crash-child <store path>\n".utf8))
    exit(2)
}
do {
    let store = try AuthenticatedStore(path: arguments[1])
    var version = (store.latestVersion ?? 0) + 1
    while true {
        for write in StorageCrashWorkload.writes(forVersion: version) {
            if let value = write.value { try store.set(write.key, value) } else { try store.delete(write.key) }
        }
        _ = try store.commit(version: version)
        FileHandle.standardOutput.write(Data("committed \(version)\n".utf8))
        version += 1
    }
} catch {
    FileHandle.standardError.write(Data("storage-crash-child: \(error)\n".utf8))
    exit(1)
}
