import AftersaleCore
import AftersaleServer
import AftersaleStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite("Forgetting a customer over HTTP")
struct ForgetRouteTests {
    static let registration = """
        {"id":"reg-1","type":"customer.registered","customer":"c-1","at":"2026-05-01T10:00:00Z","data":{"email":"mira.osei@example.net","name":"Mira Osei","consent":{"email":true}}}
        {"id":"ord-1","type":"order.placed","customer":"c-1","at":"2026-05-02T10:00:00Z","data":{"order":"o-1","total":"42.00","currency":"EUR","lines":[{"sku":"TEA-1","quantity":1,"price":"42.00"}],"shipping_address":{"street":"Rue Haute 9","city":"Bruxelles"}}}
        {"id":"reg-2","type":"customer.registered","customer":"c-2","at":"2026-05-01T11:00:00Z","data":{"email":"kofi.boateng@example.net","name":"Kofi Boateng"}}
        """

    /// Whether any file in the folder holds these bytes.
    static func folderHolds(_ folder: URL, _ text: String) throws -> Bool {
        let needle = Data(text.utf8)
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            if let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path), data.range(of: needle) != nil { return true }
        }
        return false
    }

    @Test("a shop asks to forget a customer: their data reads as erased everywhere, the order stays, another customer is untouched")
    func forgetOverHTTP() async throws {
        let server = try TestServer(now: "2026-06-01T00:00:00Z")
        try await server.test { client in
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(Self.registration)) { r in
                #expect(r.object.outcomes == ["appended", "appended", "appended"])
            }
            try await client.execute(uri: "/v1/customers/c-1/personal-data", method: .get, headers: bearer) { r in
                #expect(r.status == .ok)
                #expect(r.object["profile"]?["email"]?.stringValue == "mira.osei@example.net")
                #expect(r.object["events"]?.arrayValue?[1]["data"]?["shipping_address"]?["city"]?.stringValue == "Bruxelles")
            }
            // Sealed from the start: the log's files never held the address in clear.
            #expect(try !Self.folderHolds(server.folder, "Rue Haute"))

            try await client.execute(uri: "/v1/customers/c-1/forget", method: .post, headers: [.authorization: "Bearer wrong"]) { r in
                #expect(r.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/customers/c-1/forget", method: .post, headers: bearer, body: buffer("{\"reason\":\"ticket 4711\"}")) { r in
                #expect(r.status == .ok, "\(r.text)")
                #expect(r.object["key_deleted"] == .bool(true))
                #expect(r.object["event"]?["outcome"]?.stringValue == "appended")
            }
            try await client.execute(uri: "/v1/customers/c-1/personal-data", method: .get, headers: bearer) { r in
                #expect(r.object["personal_data"]?.stringValue == "erased")
                #expect(r.object["profile"]?["email"] == .null)
                let events = r.object["events"]?.arrayValue ?? []
                #expect(events.map { $0["type"]?.stringValue } == ["customer.registered", "order.placed", "customer.forgotten"])
                #expect(events[1]["data"]?["total"]?.stringValue == "42.00", "the order's clear facts stay")
                #expect(events[1]["erased"]?.arrayValue == [.string("shipping_address")])
                #expect(events[2]["data"]?["reason"]?.stringValue == "ticket 4711")
            }
            try await client.execute(uri: "/v1/customers/c-1", method: .get, headers: bearer) { r in
                #expect(r.object["personal_data"]?.stringValue == "erased")
                #expect(r.object["order_count"] == .integer(1))
            }
            try await client.execute(uri: "/v1/customers/c-2/personal-data", method: .get, headers: bearer) { r in
                #expect(r.object["profile"]?["email"]?.stringValue == "kofi.boateng@example.net")
            }
            // Twice is fine; the same registration sent again brings nothing back.
            try await client.execute(uri: "/v1/customers/c-1/forget", method: .post, headers: bearer) { r in
                #expect(r.status == .ok)
                #expect(r.object["key_deleted"] == .bool(false))
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(Self.registration)) { r in
                #expect(r.object.outcomes == ["duplicate", "duplicate", "duplicate"])
            }
            try await client.execute(uri: "/v1/customers/c-1", method: .get, headers: bearer) { r in
                #expect(r.object["email"] == .null)
            }
            try await client.execute(uri: "/metrics", method: .get) { r in
                #expect(r.text.contains("aftersale_customers_forgotten_total 2"))
            }
        }
    }

    @Test("Shopify's shop/redact forgets every customer of that shop (its prefix), and no other shop's")
    func shopRedaction() async throws {
        let server = try TestServer(now: "2026-06-01T00:00:00Z") { $0.shopifyCustomerPrefix = "eu:" }
        let events = ["eu:1", "eu:2", "us:3"].enumerated().map { i, c in
            "{\"id\":\"r-\(i)\",\"type\":\"customer.registered\",\"customer\":\"\(c)\",\"at\":\"2026-05-01T10:00:00Z\",\"data\":{\"email\":\"person\(i)@example.net\"}}"
        }.joined(separator: "\n")
        try await server.test { client in
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(events)) { r in
                #expect(r.object.outcomes == ["appended", "appended", "appended"])
            }
            let body = "{\"shop_id\":954889,\"shop_domain\":\"tea-shop.myshopify.com\"}"
            try await client.execute(uri: "/webhooks/shopify", method: .post, headers: shopifyHeaders(topic: "shop/redact", eventID: "sr-1", body: body),
                                     body: buffer(body)) { r in
                #expect(r.status == .ok, "\(r.text)")
            }
            for (customer, erased) in [("eu:1", true), ("eu:2", true), ("us:3", false)] {
                try await client.execute(uri: "/v1/customers/\(customer)/personal-data", method: .get, headers: bearer) { r in
                    #expect((r.object["personal_data"]?.stringValue == "erased") == erased, "\(customer)")
                    #expect((r.object["profile"]?["email"] == .null) == erased, "\(customer)")
                }
            }
        }
    }
}
