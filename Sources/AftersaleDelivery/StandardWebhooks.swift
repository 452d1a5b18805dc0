import Crypto
import Foundation

/// A signing secret in the Standard Webhooks form: "whsec_" + base64 of 24 to 64 random bytes.
public struct WebhookSecret: Sendable, Equatable {
    public let key: [UInt8]

    public init(_ text: String) throws {
        guard text.hasPrefix("whsec_") else { throw WebhookSecretError("a signing secret starts with whsec_") }
        guard let data = Data(base64Encoded: String(text.dropFirst(6))) else {
            throw WebhookSecretError("a signing secret is whsec_ and base64; this one's base64 does not decode")
        }
        guard (24...64).contains(data.count) else {
            throw WebhookSecretError("a signing secret's key is 24 to 64 bytes; this one has \(data.count)")
        }
        key = Array(data)
    }

    public init(key: [UInt8]) { self.key = key }

    /// Secrets from a list separated by spaces or commas (a rotation: "whsec_old whsec_new").
    public static func secrets(from text: String) throws -> [WebhookSecret] {
        try text.split(whereSeparator: { $0 == " " || $0 == "," }).map { try WebhookSecret(String($0)) }
    }
}

/// What is wrong with a secret (never its value).
public struct WebhookSecretError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Signatures as the Standard Webhooks specification defines them.
public enum StandardWebhooks {
    static func content(id: String, timestamp: Int64, body: [UInt8]) -> [UInt8] {
        Array("\(id).\(timestamp).".utf8) + body
    }

    /// "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
    public static func signature(id: String, timestamp: Int64, body: [UInt8], secret: WebhookSecret) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: content(id: id, timestamp: timestamp, body: body), using: SymmetricKey(data: secret.key))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The webhook-signature header value: one signature per secret, space-separated.
    public static func signatureHeader(id: String, timestamp: Int64, body: [UInt8], secrets: [WebhookSecret]) -> String {
        secrets.map { signature(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }

    /// Verifies a header as a receiver would: one of its `v1,` entries matches (compared in
    /// constant time), and the timestamp is within `tolerance` seconds of `now`.
    public static func verify(id: String, timestamp: Int64, body: [UInt8], header: String, secret: WebhookSecret, now: Int64,
                              tolerance: Int64 = 300) -> Bool {
        // A hostile header's timestamp may be near Int64's ends: the difference must not overflow.
        let (difference, overflow) = now.subtractingReportingOverflow(timestamp)
        guard !overflow, difference.magnitude <= tolerance.magnitude else { return false }
        let content = content(id: id, timestamp: timestamp, body: body)
        let key = SymmetricKey(data: secret.key)
        for entry in header.split(separator: " ") where entry.hasPrefix("v1,") {
            if let mac = Data(base64Encoded: String(entry.dropFirst(3))),
               HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: content, using: key) { return true }
        }
        return false
    }
}
