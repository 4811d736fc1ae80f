extension KeyStore {
    /// The key named `name`, created if missing (`gonka init`, the devnet's homes, `node join`).
    public func entryOrCreate(_ name: String) throws(KeyStoreError) -> Entry {
        do {
            return try entry(name)
        } catch .notFound {
            return try add(name: name)
        }
    }
}
