import AftersaleCore
import AftersaleSources
import AftersaleStore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The routes of other platforms: Shopify's webhooks and Segment's (or RudderStack's) calls.
extension Routes {
    static func addSourceRoutes(to router: Router<BasicRequestContext>, _ parts: ServerParts) {
        router.post("/webhooks/shopify") { request, context in
            guard let secret = parts.settings.shopifySecret else {
                parts.logger.warning("a Shopify webhook came, but AFTERSALE_SHOPIFY_SECRET is not set: answered 503")
                return failure(.serviceUnavailable, "Shopify webhooks are not configured on this server")
            }
            let body = try await collect(request, parts)
            guard let sent = request.headers[.shopifyHmac], let sentBytes = Data(base64Encoded: sent) else {
                return failure(.unauthorized, "X-Shopify-Hmac-Sha256 is missing or not base64")
            }
            let expected = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
            guard constantTimeEquals(Array(expected), Array(sentBytes)) else {
                parts.metrics.countEvent(source: "shopify", outcome: "bad_signature")
                return failure(.unauthorized, "X-Shopify-Hmac-Sha256 does not match the body signed with the app's secret")
            }
            guard let topic = request.headers[.shopifyTopic] else { return failure(.badRequest, "X-Shopify-Topic is missing") }
            var headers: [String: String] = [:]
            for field in request.headers where field.name.canonicalName.hasPrefix("x-shopify-") {
                headers[field.name.canonicalName] = field.value
            }
            // The last resort for the event's time (privacy webhooks carry none): when it came.
            headers[Shopify.receivedAtHeader] = parts.clock.now().description
            let mapped = Shopify.map(topic: topic, headers: headers, body: body, customerPrefix: parts.settings.shopifyCustomerPrefix)
            let origin = "topic \(topic)" + (headers["x-shopify-event-id"] ?? headers["x-shopify-webhook-id"]).map { ", id \($0)" }.orEmpty
            let response = try await commitMapped(mapped, body: body, origin: origin, source: "shopify", parts)
            // A redaction recorded is carried out at once (Shopify allows 30 days; nothing waits).
            if response.status == .ok { await actOnShopifyRedaction(topic: topic, mapped: mapped, parts) }
            return response
        }

        for endpoint in [Segment.Endpoint.track, .identify, .batch] {
            router.post("/v1/\(endpoint.rawValue)") { request, context in
                guard let key = parts.settings.segmentWriteKey else {
                    parts.logger.warning("a Segment call came, but AFTERSALE_SEGMENT_WRITE_KEY is not set: answered 503")
                    return failure(.serviceUnavailable, "Segment calls are not configured on this server")
                }
                guard basicUser(request).map({ constantTimeEquals(Array($0.utf8), Array(key.utf8)) }) == true else {
                    return failure(.unauthorized, "expected HTTP Basic auth with the write key as the user name",
                                   headers: [.wwwAuthenticate: "Basic realm=\"aftersale\""])
                }
                let body = try await collect(request, parts)
                let items: [Segment.Item]
                switch Segment.map(endpoint, body: body) {
                case .failure(let error): return failure(.badRequest, error.description)
                case .success(let found): items = found
                }
                var reader = RequestItems(now: parts.clock.now(), source: "segment")
                var all: [RequestItem] = []
                var ignored = 0
                for (index, item) in items.enumerated() {
                    let origin = "messageId " + (item.messageID ?? "none") + (endpoint == .batch ? " (batch[\(index)])" : "")
                    switch item.result {
                    case .ignored: ignored += 1
                    case .rejected(let field, let reason):
                        let raw = segmentRaw(body, endpoint: endpoint, index: index)
                        all.append(RequestItem(origin: origin, id: item.messageID,
                                               item: .rejected(RejectedInput(source: "segment", origin: origin, raw: raw, reason: "\(field): \(reason)")),
                                               rejection: EventError(field: field, reason: reason)))
                    case .events(let events):
                        for event in events {
                            if let r = reader.envelope(Array(event.line.utf8), origin: origin, condition: event.condition) { all.append(r) }
                        }
                    }
                }
                if ignored > 0 { parts.metrics.countEvent(source: "segment", outcome: "ignored", by: ignored) }
                return try await commit(all, source: "segment", parts, ignored: ignored)
            }
        }
    }

    /// A Segment message's own text, for its reject (the whole body when it cannot be cut out).
    static func segmentRaw(_ body: [UInt8], endpoint: Segment.Endpoint, index: Int) -> String {
        if endpoint == .batch, let root = try? body.withUnsafeBufferPointer({ b throws(JSONSyntaxError) in try JSONParser.parse(b) }),
           let batch = root["batch"]?.arrayValue, index < batch.count {
            return batch[index].compactText
        }
        return String(decoding: body, as: UTF8.self)
    }

    /// A mapped webhook: its envelopes validated, or the webhook kept as rejected with its body.
    static func commitMapped(_ mapped: MappingResult, body: [UInt8], origin: String, source: String,
                             _ parts: ServerParts) async throws -> Response {
        switch mapped {
        case .ignored(let why):
            parts.metrics.countEvent(source: source, outcome: "ignored")
            return json(.ok, .object(JSONObject(["outcome": "ignored", "reason": .string(why)])))
        case .rejected(let field, let reason):
            let raw = String(decoding: body, as: UTF8.self)
            let item = RequestItem(origin: origin, id: nil,
                                   item: .rejected(RejectedInput(source: source, origin: origin, raw: raw, reason: "\(field): \(reason)")),
                                   rejection: EventError(field: field, reason: reason))
            return try await commit([item], source: source, parts)
        case .events(let events):
            var reader = RequestItems(now: parts.clock.now(), source: source)
            var items: [RequestItem] = []
            for event in events {
                guard var item = reader.envelope(Array(event.line.utf8), origin: origin, condition: event.condition) else { continue }
                if case .rejected(var input) = item.item {
                    // Keep what was sent (the webhook), not the envelope made of it: that is what to fix.
                    input.raw = String(decoding: body, as: UTF8.self)
                    item.item = .rejected(input)
                }
                items.append(item)
            }
            return try await commit(items, source: source, parts)
        }
    }

}
