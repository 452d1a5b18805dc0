import AftersaleCore
import Foundation
import Testing

/// One kind of string field, and a line with `value` in it.
struct LimitedField: CustomTestStringConvertible, Sendable {
    var field: String
    var limit: FieldLimit
    /// The line with the value written in place of `VALUE` (as JSON string contents).
    var template: String

    var testDescription: String { field }

    func line(_ value: String) -> String { template.replacingOccurrences(of: "VALUE", with: value) }
}

@Suite("Limits on ids and free text")
struct FieldLimitTests {
    /// The catalogue's default zone check: any `Area/Location` name, so a long one gets as far as its length check.
    static let validator = EventValidator(now: try! Timestamp.parse("2026-06-01T00:00:00Z"))

    static let fields: [LimitedField] = [
        LimitedField(field: "id", limit: .identifier,
                     template: #"{"id":"VALUE","type":"order.cancelled","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"o-1"}}"#),
        LimitedField(field: "customer", limit: .identifier,
                     template: #"{"id":"e-1","type":"order.cancelled","customer":"VALUE","at":"2025-01-01T00:00:00Z","data":{"order":"o-1"}}"#),
        LimitedField(field: "data.order", limit: .identifier,
                     template: #"{"id":"e-1","type":"order.cancelled","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"VALUE"}}"#),
        LimitedField(field: "data.return", limit: .identifier,
                     template: #"{"id":"e-1","type":"return.requested","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"o-1","return":"VALUE"}}"#),
        LimitedField(field: "data.review", limit: .identifier,
                     template: #"{"id":"e-1","type":"review.posted","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"review":"VALUE","sku":"s-1","rating":4}}"#),
        LimitedField(field: "data.sku", limit: .identifier,
                     template: #"{"id":"e-1","type":"review.posted","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"review":"r-1","sku":"VALUE","rating":4}}"#),
        LimitedField(field: "data.lines[1].sku", limit: .identifier,
                     template: #"{"id":"e-1","type":"order.placed","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"o-1","total":"2.00","currency":"EUR","lines":[{"sku":"s-1","quantity":1,"price":"1.00"},{"sku":"VALUE","quantity":1,"price":"1.00"}]}}"#),
        LimitedField(field: "data.consent", limit: .identifier,
                     template: #"{"id":"e-1","type":"customer.updated","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"consent":{"email":true,"VALUE":true}}}"#),
        LimitedField(field: "data.text", limit: .text,
                     template: #"{"id":"e-1","type":"review.posted","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"review":"r-1","sku":"s-1","rating":4,"text":"VALUE"}}"#),
        LimitedField(field: "data.by", limit: .text,
                     template: #"{"id":"e-1","type":"review.replied","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"review":"r-1","text":"Thanks!","by":"VALUE"}}"#),
        LimitedField(field: "data.reason", limit: .text,
                     template: #"{"id":"e-1","type":"shipment.failed","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"o-1","reason":"VALUE"}}"#),
        LimitedField(field: "data.name", limit: .text,
                     template: #"{"id":"e-1","type":"customer.registered","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"name":"VALUE"}}"#),
        LimitedField(field: "data.lines[0].name", limit: .text,
                     template: #"{"id":"e-1","type":"order.placed","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"o-1","total":"1.00","currency":"EUR","lines":[{"sku":"s-1","quantity":1,"price":"1.00","name":"VALUE"}]}}"#),
    ]

    /// What the validator makes of a line on a tape, as ingest reads it (nil: accepted).
    static func onTape(_ line: String) -> EventError? {
        var tape = JSONTape()
        var bytes = Array(line.utf8)
        return bytes.withUnsafeMutableBufferPointer { buffer -> EventError? in
            do throws(JSONTapeError<EventError>) {
                try tape.parse(UnsafeBufferPointer(buffer)) { (root) throws(EventError) in
                    let envelope = try validator.validateEnvelope(root)
                    try validator.validateData(envelope.data, of: envelope.type)
                }
                return nil
            } catch {
                switch error {
                case .syntax(let error): return EventError(field: "json", reason: error.description)
                case .body(let error): return error
                }
            }
        }
    }

    /// What the validator makes of a line as a tree, as everything else reads it (nil: accepted).
    static func onTree(_ line: String) -> EventError? {
        do { _ = try validator.decode(line: line); return nil } catch { return error }
    }

    /// A value of `count` characters: ASCII, two-byte (`é`), four-byte (an emoji), or written as JSON escapes.
    static func values(_ count: Int) -> [String] {
        ["x", "é", "🎁", #"\u00e9"#].map { String(repeating: $0, count: count) }
    }

    static func reason(_ length: Int, _ limit: FieldLimit) -> String {
        "too long: \(length) characters (at most \(limit.maxLength) for \(limit == .identifier ? "an id" : "free text"))"
    }

    @Test("a value at the limit is accepted, one character more is refused with the field and why, on a tape and on a tree",
          arguments: fields)
    func atAndOverTheLimit(field: LimitedField) {
        let max = field.limit.maxLength
        for value in FieldLimitTests.values(max) {
            let line = field.line(value)
            #expect(FieldLimitTests.onTape(line) == nil, "\(field.field): \(value.prefix(12))... of \(max) characters on a tape")
            #expect(FieldLimitTests.onTree(line) == nil, "\(field.field): \(value.prefix(12))... of \(max) characters on a tree")
        }
        for value in FieldLimitTests.values(max + 1) {
            for error in [FieldLimitTests.onTape(field.line(value)), FieldLimitTests.onTree(field.line(value))] {
                #expect(error?.field == field.field, "\(error?.description.prefix(200) ?? "accepted")")
                #expect(error?.reason.hasSuffix(FieldLimitTests.reason(max + 1, field.limit)) == true, "\(error?.reason.prefix(200) ?? "accepted")")
            }
        }
    }

    @Test("a time-zone name is an id: at the limit it is judged by name, over it refused for its length")
    func timeZoneName() {
        func line(_ zone: String) -> String {
            #"{"id":"e-1","type":"customer.updated","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"timezone":"\#(zone)"}}"#
        }
        let atLimit = "Area/" + String(repeating: "x", count: FieldLimit.identifier.maxLength - 5)
        #expect(FieldLimitTests.onTape(line(atLimit)) == nil && FieldLimitTests.onTree(line(atLimit)) == nil)
        for error in [FieldLimitTests.onTape(line(atLimit + "x")), FieldLimitTests.onTree(line(atLimit + "x"))] {
            #expect(error == EventError(field: "data.timezone", reason: FieldLimitTests.reason(257, .identifier)))
        }
    }

    @Test("a value thousands of times over the limit is refused the same way")
    func farOver() {
        let line = FieldLimitTests.fields[1].line(String(repeating: "c", count: 100_000))
        for error in [FieldLimitTests.onTape(line), FieldLimitTests.onTree(line)] {
            #expect(error == EventError(field: "customer", reason: FieldLimitTests.reason(100_000, .identifier)))
        }
    }

    @Test("the catalogue's schemas bound every string with the same limits, and its README states them")
    func catalogueAgrees() throws {
        let folder = catalogueFolder.appendingPathComponent("schemas")
        var unbounded: [String] = []
        var lengths: Set<Int> = []
        func walk(_ node: Any, _ path: String) {
            if let object = node as? [String: Any] {
                if object["type"] as? String == "string", object["maxLength"] == nil, object["pattern"] == nil, object["enum"] == nil {
                    unbounded.append(path)
                }
                if let n = object["maxLength"] as? Int { lengths.insert(n) }
                for (key, value) in object { walk(value, "\(path)/\(key)") }
            } else if let array = node as? [Any] {
                for (i, value) in array.enumerated() { walk(value, "\(path)[\(i)]") }
            }
        }
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".json") {
            walk(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(file))), file)
        }
        #expect(unbounded.isEmpty, "strings with no maxLength: \(unbounded)")
        #expect(lengths == Set(FieldLimit.allCases.map(\.maxLength)))
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("envelope.schema.json"))) as? [String: Any])
        let definitions = try #require(envelope["$defs"] as? [String: [String: Any]])
        #expect(definitions["id"]?["maxLength"] as? Int == FieldLimit.identifier.maxLength)
        #expect(definitions["text"]?["maxLength"] as? Int == FieldLimit.text.maxLength)
        let readme = try String(contentsOf: catalogueFolder.appendingPathComponent("README.md"), encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for limit in FieldLimit.allCases {
            // As the README writes numbers: 32,768.
            let digits = String(limit.maxLength)
            let written = digits.count > 3 ? "\(digits.dropLast(3)),\(digits.suffix(3))" : digits
            #expect(readme.contains("at most \(written) characters"), "\(limit)")
        }
    }

    @Test("without a time-zone database a zone name is judged by its shape: UTC, or capitalised Area/Location parts")
    func zoneNameShape() {
        let plausible = ["UTC", "GMT", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Etc/GMT-14", "America/Port-au-Prince"]
        let implausible = ["", "utc", "Berlin", "europe/Berlin", "Europe/", "/Berlin", "Europe//Berlin", "Europe/Berlin/",
                           "Europe/Ber lin", "Europé/Paris", "Europe/Zürich", "Europe/Berlin\n", "1Area/Place", "_Area/Place", "/", "//"]
        for name in plausible { #expect(EventValidator.plausibleZoneName(name), "\(name)") }
        for name in implausible { #expect(!EventValidator.plausibleZoneName(name), "\(name)") }
    }
}
