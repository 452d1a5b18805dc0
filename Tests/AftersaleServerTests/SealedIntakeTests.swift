import AftersaleCore
import AftersaleServer
import AftersaleSQLite
import AftersaleStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("personal data that comes over HTTP is kept sealed")
struct SealedIntakeTests {
    static let registered = """
        {"id":"reg-1","type":"customer.registered","customer":"c-1","at":"2026-05-01T10:00:00Z","data":{"email":"ines.duarte@example.org","name":"Ines Duarte","consent":{"email":true}}}
        """
    static let review = """
        {"id":"rev-1","type":"review.posted","customer":"c-1","at":"2026-05-09T10:00:00Z","data":{"review":"rv-1","sku":"TEA-1","rating":2,"text":"The tin came dented, Ines"}}
        """

    /// Every event's stored data, by id.
    static func stored(_ path: String) throws -> [String: String] {
        let database = try Database(path: path, readOnly: true)
        let rows = try database.prepare("SELECT id, data FROM events")
        var data: [String: String] = [:]
        while try rows.step() { data[rows.text(0) ?? ""] = rows.text(1) ?? "" }
        return data
    }

    @Test("a customer's email, name and review text are stored sealed, read back opened, and a resend (sealed again, with new nonces) is a duplicate")
    func sealedOverHTTP() async throws {
        let server = try TestServer(now: "2026-05-10T00:00:00Z")
        try await server.test { client in
            let body = SealedIntakeTests.registered + "\n" + SealedIntakeTests.review + "\n"
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(body)) { r in
                #expect(r.status == .ok)
                #expect(r.object.outcomes == ["appended", "appended"])
            }
            let data = try SealedIntakeTests.stored(server.path)
            let clear = ["ines.duarte@example.org", "Ines Duarte", "The tin came dented"]
            for (id, text) in data {
                for value in clear { #expect(!text.contains(value), "\(id) holds \(value) in clear") }
            }
            #expect(data["reg-1"]?.contains(PersonalData.sealedPrefix) == true)
            #expect(data["rev-1"]?.contains(PersonalData.sealedPrefix) == true)
            // What is not personal stays as sent.
            #expect(data["rev-1"]?.contains("\"rating\":2") == true)

            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(body)) { r in
                #expect(r.status == .ok)
                #expect(r.object.outcomes == ["duplicate", "duplicate"])
            }
            #expect(try SealedIntakeTests.stored(server.path) == data)
            try await client.execute(uri: "/v1/customers/c-1/personal-data", method: .get, headers: bearer) { r in
                #expect(r.status == .ok)
                #expect(r.object["profile"]?["email"]?.stringValue == "ines.duarte@example.org")
                #expect(r.object["events"]?.arrayValue?[1]["data"]?["text"]?.stringValue == "The tin came dented, Ines")
            }
        }
    }
}
