import AftersaleCore
import AftersaleSources
import Foundation
import Testing

@Suite("the platforms' mappings, pure")
struct MappingTests {
    static func example(_ platform: String, _ name: String) throws -> [UInt8] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return Array(try Data(contentsOf: root.appendingPathComponent("events/sources/\(platform)/\(name).json")))
    }

    static let headers = ["x-shopify-event-id": "evt-1"]

    @Test("the same webhook gives the same envelopes, ids included, so a retry is a duplicate")
    func deterministic() throws {
        let body = try MappingTests.example("shopify", "orders-create")
        let a = Shopify.map(topic: "orders/create", headers: MappingTests.headers, body: body, customerPrefix: "")
        let b = Shopify.map(topic: "orders/create", headers: MappingTests.headers, body: body, customerPrefix: "")
        #expect(a == b)
        guard case .events(let events) = a else { Issue.record("expected events, got \(a)"); return }
        let ids = events.compactMap { (try? JSONParser.parse($0.line))?["id"]?.stringValue }
        #expect(ids == ["shopify:orders/create:evt-1:customer", "shopify:orders/create:evt-1"])
        #expect(events.map(\.condition) == [.customerUnknown, .always])
        // Without X-Shopify-Event-Id, the webhook id stands in.
        let byWebhook = Shopify.map(topic: "orders/create", headers: ["x-shopify-webhook-id": "w-9"], body: body, customerPrefix: "")
        guard case .events(let other) = byWebhook else { Issue.record("expected events"); return }
        #expect(other.last?.line.contains("shopify:orders/create:w-9") == true)
    }

    @Test("no event id, not JSON, unmapped status: rejected or ignored with the reason")
    func refusals() throws {
        let body = try MappingTests.example("shopify", "orders-create")
        #expect(Shopify.map(topic: "orders/create", headers: [:], body: body, customerPrefix: "")
            == .rejected(field: "X-Shopify-Event-Id", reason: "missing (and no X-Shopify-Webhook-Id): the event id derives from it, so retries are duplicates"))
        if case .rejected(let field, _) = Shopify.map(topic: "orders/create", headers: MappingTests.headers, body: Array("[1".utf8), customerPrefix: "") {
            #expect(field == "body")
        } else { Issue.record("not JSON should be rejected") }
        let inTransit = Array(#"{"order_id": 5, "status": "in_transit", "happened_at": "2026-01-01T00:00:00Z"}"#.utf8)
        #expect(Shopify.map(topic: "fulfillment_events/create", headers: MappingTests.headers, body: inTransit, customerPrefix: "")
            == .ignored("fulfillment event status in_transit is not mapped"))
        #expect(Shopify.map(topic: "products/create", headers: MappingTests.headers, body: Array("{}".utf8), customerPrefix: "")
            == .ignored("topic products/create is not mapped"))
    }

    @Test("a Segment call with only an anonymousId, or without a messageId, is rejected with that reason")
    func segmentRefusals() throws {
        let anonymous = Array(#"{"type":"track","event":"Order Completed","anonymousId":"a","messageId":"m","timestamp":"2026-01-01T00:00:00Z"}"#.utf8)
        guard case .success(let items) = Segment.map(.track, body: anonymous) else { Issue.record("expected items"); return }
        #expect(items.first?.result == .rejected(field: "userId", reason: "missing: a call with only an anonymousId cannot be attributed to a customer"))
        let noID = Array(#"{"type":"track","event":"Order Cancelled","userId":"u","timestamp":"2026-01-01T00:00:00Z","properties":{"order_id":"o"}}"#.utf8)
        guard case .success(let more) = Segment.map(.track, body: noID) else { Issue.record("expected items"); return }
        #expect(more.first?.result == .rejected(field: "messageId", reason: "missing: it is the idempotency key"))
        #expect(Segment.map(.batch, body: Array(#"{"batch": {}}"#.utf8)) == .failure(Segment.BodyError(description: "batch: expected an array of calls")))
    }
}
