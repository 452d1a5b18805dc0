import AftersaleCore
import AftersaleServer
import AftersaleStore
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// The platforms' example payloads (events/sources/), written for this project from their documentation.
func example(_ platform: String, _ name: String) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try String(contentsOf: root.appendingPathComponent("events/sources/\(platform)/\(name).json"), encoding: .utf8)
}

/// Headers of a Shopify webhook, signed as Shopify signs: base64 HMAC-SHA256 of the raw body.
func shopifyHeaders(topic: String, eventID: String, body: String, secret: String = TestServer.shopifySecret) -> HTTPFields {
    let mac = HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: SymmetricKey(data: Array(secret.utf8)))
    return [HTTPField.Name("X-Shopify-Topic")!: topic, HTTPField.Name("X-Shopify-Event-Id")!: eventID,
            HTTPField.Name("X-Shopify-Hmac-Sha256")!: Data(mac).base64EncodedString(),
            HTTPField.Name("X-Shopify-Shop-Domain")!: "tea-shop.myshopify.com", .contentType: "application/json"]
}

/// The stream of a customer as (type, data) pairs.
/// A customer's events as the log keeps them, with their personal data opened (the service seals it).
func stream(_ path: String, _ customer: String) throws -> [(String, JSONValue)] {
    let log = try EventLog(path: path)
    let vault = try log.attachVault(environment: [:])
    return try log.stream(of: customer).map { ($0.event.type.rawValue, JSONValue.object(vault.reveal($0.event).event.data)) }
}

@Suite("Shopify webhooks")
struct ShopifyRouteTests {
    @Test("a fulfillment of an order ingested from a file before the service started is attributed to that order's customer")
    func fulfillmentOfAnEarlierOrder() async throws {
        let server = try TestServer(now: "2026-03-01T00:00:00Z") { settings in
            // As `aftersale ingest` left it: the order is in the log, the service never saw it.
            let log = try! EventLog(path: settings.databasePath)
            let placed = orderLine(id: "imported-1", customer: "c-from-file", order: "820982911946154508", at: "2026-02-01T10:00:00Z")
            _ = try! log.append([EncodedEvent(try! EventValidator(now: Timestamp(millis: 4_102_444_800_000)).decode(line: placed))],
                                recorded: Timestamp(millis: 1_800_000_000_000))
        }
        try await server.test { client in
            let fulfillment = try example("shopify", "fulfillments-create")
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: "fulfillments/create", eventID: "f-1", body: fulfillment),
                                     body: buffer(fulfillment)) { r in
                #expect(r.status == .ok, "\(r.text)")
                #expect(r.object.outcomes == ["appended"])
            }
            #expect(try stream(server.path, "c-from-file").map(\.0) == ["order.placed", "shipment.dispatched"])
        }
    }

    @Test("an order, its fulfillment, delivery and refund, webhook by webhook; a retry is a duplicate")
    func orderJourney() async throws {
        let server = try TestServer(now: "2026-06-01T00:00:00Z") { $0.shopifyCustomerPrefix = "eu:" }
        try await server.test { client in
            func send(_ topic: String, _ file: String, id: String) async throws -> JSONValue {
                let body = try example("shopify", file)
                return try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: topic, eventID: id, body: body),
                                                body: buffer(body)) { r in
                    #expect(r.status == .ok, "\(topic): \(r.text)")
                    return r.object
                }
            }
            #expect(try await send("orders/create", "orders-create", id: "e-1").outcomes == ["appended", "appended"])
            // Shopify's retry: the customer is known now, the order a duplicate.
            #expect(try await send("orders/create", "orders-create", id: "e-1").outcomes == ["skipped", "duplicate"])
            #expect(try await send("fulfillments/create", "fulfillments-create", id: "e-2").outcomes == ["appended"])
            #expect(try await send("fulfillment_events/create", "fulfillment-events-create", id: "e-3").outcomes == ["appended"])
            #expect(try await send("refunds/create", "refunds-create", id: "e-4").outcomes == ["appended"])

            let events = try stream(server.path, "eu:115310627314723954")
            #expect(events.map(\.0) == ["customer.registered", "order.placed", "shipment.dispatched", "shipment.delivered", "return.refunded"])
            let registered = events[0].1, order = events[1].1
            #expect(registered["email"]?.stringValue == "jon@example.com")
            #expect(registered["name"]?.stringValue == "Jon Snow")
            #expect(registered["consent"]?["email"] == .bool(true))
            #expect(registered["consent"]?["sms"] == .bool(false))
            #expect(order["order"]?.stringValue == "820982911946154508")
            #expect(order["total"]?.stringValue == "59.80")
            #expect(order["currency"]?.stringValue == "EUR")
            let lines = order["lines"]?.arrayValue ?? []
            #expect(lines.map { $0["sku"]?.stringValue } == ["TEA-SENCHA-100", "variant-49148385"])
            #expect(lines.map { $0["price"]?.stringValue } == ["14.90", "30.00"])
            #expect(lines.first?["name"]?.stringValue == "Sencha 100 g")
            #expect(events[2].1["carrier"]?.stringValue == "DHL Express")
            #expect(events[2].1["tracking"]?.stringValue == "1Z2345")
            // Only the successful refund transactions, summed exactly.
            #expect(events[4].1["amount"]?.stringValue == "19.90")

            // The mandatory redaction: recorded, then carried out at once; a retry changes nothing.
            #expect(try await send("customers/redact", "customers-redact", id: "e-5").outcomes == ["appended"])
            #expect(try await send("customers/redact", "customers-redact", id: "e-5").outcomes == ["duplicate"])
            let after = try stream(server.path, "eu:115310627314723954")
            #expect(after.map(\.0).suffix(2) == ["privacy.requested", "customer.forgotten"])
            #expect(after[5].1["request"]?.stringValue == "customers/redact")
            #expect(after[0].1["email"] == nil && after[0].1["name"] == nil)
            #expect(after[0].1["consent"]?["email"] == .bool(true), "what is not personal stays")
            #expect(after[1].1["total"]?.stringValue == "59.80")
        }
    }

    @Test("a customer created, then updated; a customer first seen on an order is not registered twice")
    func customers() async throws {
        let server = try TestServer(now: "2026-06-01T00:00:00Z")
        try await server.test { client in
            let body = try example("shopify", "customers-create")
            for (topic, id, outcomes) in [("customers/create", "c-1", ["appended", "skipped"]), ("customers/update", "c-2", ["skipped", "appended"])] {
                try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: topic, eventID: id, body: body), body: buffer(body)) { r in
                    #expect(r.object.outcomes == outcomes, "\(topic)")
                }
            }
            #expect(try stream(server.path, "706405506930370084").map(\.0) == ["customer.registered", "customer.updated"])
        }
    }

    @Test("a wrong or missing signature is 401; an unknown topic 200 and ignored; bad payloads are rejected and kept")
    func refusals() async throws {
        let server = try TestServer(now: "2026-06-01T00:00:00Z")
        try await server.test { client in
            let body = try example("shopify", "orders-create")
            var wrong = shopifyHeaders(topic: "orders/create", eventID: "x", body: body, secret: "another-secret")
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: wrong, body: buffer(body)) { #expect($0.status == .unauthorized) }
            wrong[HTTPField.Name("X-Shopify-Hmac-Sha256")!] = nil
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: wrong, body: buffer(body)) { #expect($0.status == .unauthorized) }
            // Signed for another body: the signature covers the bytes.
            let tampered = body.replacingOccurrences(of: "59.80", with: "5.98")
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: "orders/create", eventID: "x", body: body),
                                     body: buffer(tampered)) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: "products/update", eventID: "p", body: "{}"),
                                     body: buffer("{}")) { r in
                #expect(r.status == .ok)
                #expect(r.object["outcome"]?.stringValue == "ignored")
            }
            let guest = #"{"id": 1, "created_at": "2026-02-10T10:00:00Z", "currency": "EUR", "total_price": "1.00", "line_items": []}"#
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: "orders/create", eventID: "g", body: guest),
                                     body: buffer(guest)) { r in
                #expect(r.status == .unprocessableContent)
                #expect(r.object["results"]?.arrayValue?.first?["field"]?.stringValue == "customer")
            }
            // Shopify retries a refused webhook: it is kept once.
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: "orders/create", eventID: "g", body: guest),
                                     body: buffer(guest)) { r in
                #expect(r.status == .unprocessableContent)
            }
            // A fulfillment of an order this server never saw: its customer is unknown.
            let fulfillment = try example("shopify", "fulfillments-create")
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: "fulfillments/create", eventID: "f", body: fulfillment),
                                     body: buffer(fulfillment)) { r in
                #expect(r.status == .unprocessableContent)
                #expect(r.object.outcomes == ["rejected"])
            }
            try await client.execute(uri: "/v1/rejects?source=shopify", method: .get, headers: bearer) { r in
                let rejects = r.object["rejects"]?.arrayValue ?? []
                #expect(rejects.count == 2)
                #expect(rejects.first?["raw"]?.stringValue == guest)
            }
        }
        let closed = try TestServer(shopify: nil)
        try await closed.test { client in
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: "orders/create", eventID: "x", body: "{}"),
                                     body: buffer("{}")) { #expect($0.status == .serviceUnavailable) }
        }
    }
}

@Suite("Segment and RudderStack calls")
struct SegmentRouteTests {
    static var auth: HTTPFields {
        [.authorization: "Basic " + Data("\(TestServer.segmentKey):".utf8).base64EncodedString(), .contentType: "application/json"]
    }

    @Test("identify, an order and a batch with a review, an anonymous call and a page call")
    func calls() async throws {
        let server = try TestServer(now: "2026-06-01T00:00:00Z")
        try await server.test { client in
            try await client.execute(uri: "/v1/identify", method: .post, headers: SegmentRouteTests.auth, body: buffer(try example("segment", "identify"))) { r in
                #expect(r.object.outcomes == ["appended", "skipped"])
            }
            try await client.execute(uri: "/v1/track", method: .post, headers: SegmentRouteTests.auth, body: buffer(try example("segment", "order-completed"))) { r in
                #expect(r.status == .ok)
                #expect(r.object.outcomes == ["appended"])
            }
            try await client.execute(uri: "/v1/batch", method: .post, headers: SegmentRouteTests.auth, body: buffer(try example("segment", "batch"))) { r in
                #expect(r.status == .unprocessableContent)
                #expect(r.object.outcomes == ["appended", "rejected"])
                #expect(r.object["ignored"]?.intValue == 1)
                #expect(r.object["results"]?.arrayValue?[1]["field"]?.stringValue == "userId")
            }
            let events = try stream(server.path, "c-2001")
            #expect(events.map(\.0) == ["customer.registered", "order.placed", "review.posted"])
            #expect(events[0].1["name"]?.stringValue == "Ada Lovelace")
            #expect(events[0].1["birthday"]?.stringValue == "1990-12-10")
            let order = events[1].1
            // Numbers as written: no Double on the way.
            #expect(order["total"]?.stringValue == "27.5")
            #expect(order["lines"]?.arrayValue?.map { $0["price"]?.stringValue } == ["19", "8.5"])
            #expect(order["lines"]?.arrayValue?.map { $0["sku"]?.stringValue } == ["45790-32", "46493-32"])
            #expect(events[2].1["rating"]?.intValue == 2)
            #expect(events[2].1["text"]?.stringValue == "box arrived crushed")
            try await client.execute(uri: "/v1/track", method: .post, headers: SegmentRouteTests.auth, body: buffer(try example("segment", "order-completed"))) { r in
                #expect(r.object.outcomes == ["duplicate"])
            }
        }
    }

    @Test("401 without the write key; 400 for a body that is not JSON")
    func refusals() async throws {
        let server = try TestServer(now: "2026-06-01T00:00:00Z")
        try await server.test { client in
            try await client.execute(uri: "/v1/track", method: .post, body: buffer("{}")) { #expect($0.status == .unauthorized) }
            let wrong: HTTPFields = [.authorization: "Basic " + Data("nope:".utf8).base64EncodedString()]
            try await client.execute(uri: "/v1/track", method: .post, headers: wrong, body: buffer("{}")) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/batch", method: .post, headers: SegmentRouteTests.auth, body: buffer("{\"batch\": 3}")) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v1/track", method: .post, headers: SegmentRouteTests.auth, body: buffer("nope")) { #expect($0.status == .badRequest) }
        }
    }
}
