import AftersaleCore
import Foundation
import Testing

/// The repository's `events/` folder, found from this file's place in the source tree.
let catalogueFolder = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("events")

/// 2025 examples are judged by a clock in 2026.
let exampleValidator = EventValidator(now: try! Timestamp.parse("2026-06-01T00:00:00Z"), isKnownTimeZone: { name in
    TimeZone(identifier: name) != nil
})

func exampleLines(_ type: EventType, _ kind: String) throws -> [String] {
    let url = catalogueFolder.appendingPathComponent("examples/\(type.rawValue).\(kind).ndjson")
    return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
}

@Suite("The event catalogue in events/")
struct CatalogueTests {
    @Test("every type has a schema and examples", arguments: EventType.allCases)
    func everyTypeIsCatalogued(type: EventType) throws {
        let schema = catalogueFolder.appendingPathComponent("schemas/\(type.rawValue).schema.json")
        #expect(FileManager.default.fileExists(atPath: schema.path))
        #expect(try exampleLines(type, "valid").filter { !$0.hasPrefix("#") }.count >= 2)
        #expect(try exampleLines(type, "invalid").filter { !$0.hasPrefix("#") }.count >= 2)
    }

    @Test("every valid example decodes to its type", arguments: EventType.allCases)
    func validExamplesDecode(type: EventType) throws {
        for line in try exampleLines(type, "valid") where !line.hasPrefix("#") {
            let event = try exampleValidator.decode(line: line)
            #expect(event.type == type)
            // Upcast to the current shape, then the data must still satisfy the rules.
            let current = try Upcaster.upcast(event)
            #expect(current.schema == type.currentSchemaVersion)
        }
    }

    @Test("every invalid example is refused with the expected field and reason", arguments: EventType.allCases)
    func invalidExamplesAreRefused(type: EventType) throws {
        let lines = try exampleLines(type, "invalid")
        var checked = 0
        for (i, line) in lines.enumerated() where !line.hasPrefix("#") {
            let expectation = try #require(i > 0 ? lines[i - 1] : nil, "line \(i + 1) has no # expect: comment")
            let parts = expectation.dropFirst("# expect: ".count).split(separator: ":", maxSplits: 1)
            #expect(expectation.hasPrefix("# expect: ") && parts.count == 2, "bad expectation \(expectation)")
            let field = String(parts[0]).trimmingCharacters(in: .whitespaces)
            let phrase = String(parts[1]).trimmingCharacters(in: .whitespaces)
            let error = #expect(throws: EventError.self, "line \(i + 1) should be refused") {
                try exampleValidator.decode(line: line)
            }
            #expect(error?.field == field, "line \(i + 1): \(error?.description ?? "accepted")")
            #expect(error?.reason.contains(phrase) == true, "line \(i + 1): '\(error?.reason ?? "")' lacks '\(phrase)'")
            checked += 1
        }
        #expect(checked >= 2)
    }

    @Test("example ids are unique across the catalogue")
    func idsAreUnique() throws {
        var ids: [String: Int] = [:]
        for type in EventType.allCases {
            for line in try exampleLines(type, "valid") where !line.hasPrefix("#") {
                ids[try exampleValidator.decode(line: line).id, default: 0] += 1
            }
        }
        #expect(ids.values.allSatisfy { $0 == 1 })
        #expect(ids.count >= 28)
    }
}

@Suite("Schema versions and upcasting")
struct UpcastingTests {
    @Test("a version-1 customer's consent list becomes per-channel flags")
    func consentListUpcasts() throws {
        let line = #"{"id":"u1","type":"customer.registered","customer":"c-9","at":"2025-01-01T00:00:00Z","schema":1,"data":{"consent":["email","whatsapp"]}}"#
        let stored = try exampleValidator.decode(line: line)
        #expect(stored.schema == 1)
        #expect(stored.data["consent"] == .array([.string("email"), .string("whatsapp")]), "the log keeps what was sent")
        let current = try Upcaster.upcast(stored)
        #expect(current.schema == 2)
        let consent = try #require(current.data["consent"]?.objectValue)
        #expect(consent["email"] == .bool(true))
        #expect(consent["sms"] == .bool(false))
        #expect(consent["push"] == .bool(false))
        #expect(consent["whatsapp"] == .bool(true))
    }

    @Test("a version-1 consent that is not a list is refused at ingest")
    func badVersionOneConsent() {
        let line = #"{"id":"u2","type":"customer.updated","customer":"c-9","at":"2025-01-01T00:00:00Z","schema":1,"data":{"consent":{"email":true}}}"#
        let error = #expect(throws: EventError.self) { try exampleValidator.decode(line: line) }
        #expect(error?.field == "data.consent")
    }

    @Test("current events pass through unchanged")
    func currentPassesThrough() throws {
        let line = #"{"id":"u3","type":"customer.updated","customer":"c-9","at":"2025-01-01T00:00:00Z","data":{"consent":{"email":false}}}"#
        let event = try exampleValidator.decode(line: line)
        #expect(try Upcaster.upcast(event) == event)
    }
}
