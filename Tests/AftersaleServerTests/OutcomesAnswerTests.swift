import AftersaleCore
import AftersaleStore
import HTTPTypes
import Testing

@testable import AftersaleServer

@Suite("the answer to a commit")
struct OutcomesAnswerTests {
    /// The answer as a tree of JSON values, member by member: what the routes answered before the
    /// answer was written straight into bytes.
    static func tree(_ items: [RequestItem], _ outcomes: [IntakeOutcome], ignored: Int) -> String {
        var counts: [String: Int] = [:]
        var results: [JSONValue] = []
        for (item, outcome) in zip(items, outcomes) {
            var o = JSONObject(["origin": .string(item.origin)])
            if let id = item.id { o["id"] = .string(id) }
            let name: String
            switch outcome {
            case .appended(let position):
                name = "appended"
                o["position"] = .integer(Int(position))
            case .duplicate(let position):
                name = "duplicate"
                o["position"] = .integer(Int(position))
            case .conflict(let position):
                name = "conflict"
                o["position"] = .integer(Int(position))
                o["reason"] = .string("an event with this id and different content is in the log at position \(position)")
            case .skipped:
                name = "skipped"
            case .rejected(let reject):
                name = "rejected"
                o["reject"] = .integer(Int(reject))
                if let e = item.rejection {
                    o["field"] = .string(e.field)
                    o["reason"] = .string(e.reason)
                }
            }
            o["outcome"] = .string(name)
            counts[name, default: 0] += 1
            results.append(.object(o))
        }
        var body = JSONObject(["results": .array(results)])
        for name in ["appended", "duplicate", "conflict", "skipped", "rejected"] { body[name] = .integer(counts[name] ?? 0) }
        if ignored > 0 { body["ignored"] = .integer(ignored) }
        return JSONValue.object(body).compactText + "\n"
    }

    static func item(_ origin: String, id: String?, rejection: EventError? = nil) -> RequestItem {
        RequestItem(origin: origin, id: id,
                    item: .rejected(RejectedInput(source: "api", origin: origin, raw: "{}", reason: rejection?.description ?? "")),
                    rejection: rejection)
    }

    @Test("each outcome, texts that need escaping, and the counts come out as the tree of values wrote them")
    func sameTextAsTheTree() {
        let items = [
            Self.item("line 1", id: "e-1"),
            Self.item("line 2", id: "e-\"2\"\\"),
            Self.item("line 3", id: "e-3"),
            Self.item("line 4", id: nil),
            Self.item("line 5", id: "e-5", rejection: EventError(field: "data.total", reason: "expected \"12.34\",\nnot a number\t\u{1}")),
            Self.item("[5] é", id: nil, rejection: nil),
            Self.item("line 7", id: "e-7"),
        ]
        let outcomes: [IntakeOutcome] = [.appended(position: 1), .duplicate(position: 1), .conflict(position: 12_345_678_901),
                                         .skipped, .rejected(reject: 3), .rejected(reject: 4), .appended(position: 9)]
        for ignored in [0, 2] {
            let answer = OutcomesAnswer(items: items, outcomes: outcomes, ignored: ignored)
            #expect(String(decoding: answer.text, as: UTF8.self) == Self.tree(items, outcomes, ignored: ignored))
            #expect(answer.status == .unprocessableContent)
            #expect(answer.countsByName == ["appended": 2, "duplicate": 1, "conflict": 1, "skipped": 1, "rejected": 2])
        }
        let none = OutcomesAnswer(items: [], outcomes: [])
        #expect(String(decoding: none.text, as: UTF8.self) == Self.tree([], [], ignored: 0))
        #expect(none.status == .ok)
        #expect(OutcomesAnswer(items: Array(items.prefix(3)), outcomes: Array(outcomes.prefix(3))).status == .conflict)
    }

    @Test("numbers are written as String writes them, at every length and sign")
    func decimals() {
        var values: [Int64] = [0, 1, 9, 10, 11, 99, 100, 101, 999_999, 1_000_000, Int64.max, Int64.min, Int64.min + 1, -1, -10]
        var power: Int64 = 1
        for _ in 0..<18 {
            power *= 10
            values += [power - 1, power, power + 1, -power]
        }
        for _ in 0..<1_000 { values.append(Int64.random(in: Int64.min...Int64.max)) }
        for value in values {
            var text: [UInt8] = Array("x".utf8)
            OutcomesAnswer.appendDecimal(value, to: &text)
            #expect(String(decoding: text, as: UTF8.self) == "x" + String(value))
        }
    }
}
