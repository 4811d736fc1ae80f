import Foundation

/// Every error answer of the RPC: `{"error":{"code":"<short_code>","message":"<reason>"}}`.
public struct RPCErrorBody: Codable, Hashable, Sendable {
    public struct Detail: Codable, Hashable, Sendable {
        public var code: String
        public var message: String
    }

    public var error: Detail

    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}

/// `POST /debug/isolate`'s body and answer.
public struct IsolateState: Codable, Hashable, Sendable {
    public var isolated: Bool

    public init(isolated: Bool) { self.isolated = isolated }
}
