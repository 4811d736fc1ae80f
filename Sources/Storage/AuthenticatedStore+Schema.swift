import GRDB

/// The on-disk layout of a state store and the checks made when opening one.
///
/// * `meta`: one row (`id = 1`): `format` (always `gonka-state`), `latest` and `oldest` versions.
/// * `kv (key, version, value)`: value history, `NULL` = deleted at that version.
/// * `node (version, path, data)`: 16-ary tree nodes (see ``TreeNode``).
/// * `stale (since, version, path)`: node `(version, path)` stopped being current at `since`.
/// * `root (version, hash, ref)`: each committed version's root.
///
/// The SQLite header carries `application_id = 0x474B5354` ("GKST") and `user_version` = the
/// schema number, so a foreign database or a newer schema is recognised before any table is read.
enum Schema {
    static let applicationID: Int32 = 0x474B_5354
    static let version = 1
    static let format = "gonka-state"

    struct State {
        var latest: UInt64?
        var oldest: UInt64?
    }

    /// Creates the schema in an empty database, or checks an existing one, and reads the meta row.
    static func open(_ db: Database, location: String) throws -> State {
        let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let userVersion = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        let objects = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
        if applicationID == 0 && userVersion == 0 && objects == 0 {
            try create(db)
        } else if applicationID != Self.applicationID {
            throw StorageError.foreignDatabase(
                path: location, detail: "application_id is \(applicationID), expected \(Self.applicationID)")
        } else if userVersion != Self.version {
            throw StorageError.unsupportedSchema(path: location, found: userVersion, supported: Self.version)
        }
        let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
        for table in ["meta", "kv", "node", "stale", "root"] where !tables.contains(table) {
            throw StorageError.corrupted(path: location, detail: "table \(table) is missing")
        }
        guard let row = try Row.fetchOne(db, sql: "SELECT format, latest, oldest FROM meta WHERE id = 1") else {
            throw StorageError.corrupted(path: location, detail: "the meta row is missing")
        }
        let format: String? = row[0]
        guard format == Self.format else {
            throw StorageError.foreignDatabase(path: location, detail: "meta format is \(format ?? "NULL")")
        }
        let latest: Int64? = row[1]
        let oldest: Int64? = row[2]
        if let latest, latest < 0 { throw StorageError.corrupted(path: location, detail: "negative latest version") }
        if let oldest, oldest < 0 { throw StorageError.corrupted(path: location, detail: "negative oldest version") }
        return State(latest: latest.map { UInt64($0) }, oldest: oldest.map { UInt64($0) })
    }

    private static func create(_ db: Database) throws {
        try db.inTransaction {
            try db.execute(
                sql: """
                    CREATE TABLE meta (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        format TEXT NOT NULL,
                        latest INTEGER,
                        oldest INTEGER
                    );
                    INSERT INTO meta (id, format, latest, oldest) VALUES (1, '\(Self.format)', NULL, NULL);
                    CREATE TABLE kv (
                        key BLOB NOT NULL,
                        version INTEGER NOT NULL,
                        value BLOB,
                        PRIMARY KEY (key, version)
                    ) WITHOUT ROWID;
                    CREATE INDEX kv_by_version ON kv (version);
                    CREATE TABLE node (
                        version INTEGER NOT NULL,
                        path BLOB NOT NULL,
                        data BLOB NOT NULL,
                        PRIMARY KEY (version, path)
                    ) WITHOUT ROWID;
                    CREATE TABLE stale (
                        since INTEGER NOT NULL,
                        version INTEGER NOT NULL,
                        path BLOB NOT NULL,
                        PRIMARY KEY (since, version, path)
                    ) WITHOUT ROWID;
                    CREATE TABLE root (
                        version INTEGER PRIMARY KEY,
                        hash BLOB NOT NULL,
                        ref BLOB NOT NULL
                    );
                    PRAGMA application_id = \(Self.applicationID);
                    PRAGMA user_version = \(Self.version);
                    """)
            return .commit
        }
    }
}
