import GonkaCore

/// An amount as the RPC spells it, with its unit (`"123ngonka"`, as `Amount.description`), where
/// `Amount`'s own `Codable` form is the bare number string. Decodes every form `Amount` reads.
@propertyWrapper
public struct AmountText: Codable, Hashable, Sendable {
    public var wrappedValue: Amount

    public init(wrappedValue: Amount) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws { wrappedValue = try Amount(from: decoder) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue.description)
    }
}
