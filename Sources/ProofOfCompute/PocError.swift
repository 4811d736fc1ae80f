/// Input the PoC code refuses: a nonsense model configuration, a malformed seed or key, a lattice
/// that cannot exist. Each case says what was wrong in `description`.
public struct PocError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case invalidConfig(String)
        case invalidBlockHash(String)
        case invalidPublicKey(String)
        case invalidLattice(index: UInt64, count: UInt64)
        case invalidArgument(String)
    }

    private let code: Code

    /// A model configuration that cannot be built (why in the text).
    public static func invalidConfig(_ why: String) -> Self { Self(code: .invalidConfig(why)) }
    /// A block hash that is not 64 hex digits.
    public static func invalidBlockHash(_ why: String) -> Self { Self(code: .invalidBlockHash(why)) }
    /// A public key that is not 64 hex digits.
    public static func invalidPublicKey(_ why: String) -> Self { Self(code: .invalidPublicKey(why)) }
    /// A lattice with `count == 0` or `index >= count`.
    public static func invalidLattice(index: UInt64, count: UInt64) -> Self {
        Self(code: .invalidLattice(index: index, count: count))
    }
    /// Any other out-of-range argument.
    public static func invalidArgument(_ why: String) -> Self { Self(code: .invalidArgument(why)) }

    /// A label without values.
    public var shortDescription: String {
        switch code {
        case .invalidConfig: "invalid_config"
        case .invalidBlockHash: "invalid_block_hash"
        case .invalidPublicKey: "invalid_public_key"
        case .invalidLattice: "invalid_lattice"
        case .invalidArgument: "invalid_argument"
        }
    }

    public var description: String {
        switch code {
        case .invalidConfig(let why): "invalid PoC model config: \(why)"
        case .invalidBlockHash(let why): "invalid block hash: \(why)"
        case .invalidPublicKey(let why): "invalid public key: \(why)"
        case .invalidLattice(let index, let count):
            "invalid nonce lattice: node_index \(index) must be below node_count \(count), and node_count positive"
        case .invalidArgument(let why): why
        }
    }
}
