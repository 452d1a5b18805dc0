import AftersaleCore
import AftersaleAnalytics
import Testing

@Suite("Joins over the log's events")
struct JoinTests {
    static func at(_ day: String) -> Timestamp { try! Timestamp.parse(day + "T12:00:00Z") }

    static func event(_ id: String, _ type: EventType, _ day: String, _ data: KeyValuePairs<String, JSONValue>, customer: String = "c-1") -> Event {
        Event(id: id, type: type, customer: customer, at: at(day), data: JSONObject(data))
    }

    @Test("a review keeps its first posting and its first reply; a reply to an unknown review is left out")
    func reviews() {
        var join = ReviewJoin()
        join.add(Self.event("e1", .reviewPosted, "2025-01-02", ["review": "r-1", "sku": "MUG", "order": "o-1", "rating": 5, "text": "Lovely"]))
        join.add(Self.event("e2", .reviewReplied, "2025-01-03", ["review": "r-9", "by": "shop", "text": "Who?"]))
        join.add(Self.event("e3", .reviewPosted, "2025-01-04", ["review": "r-1", "sku": "MUG", "rating": 1, "text": "Changed my mind"]))
        join.add(Self.event("e4", .reviewReplied, "2025-01-05", ["review": "r-1", "by": "anna", "text": "Thank you!"]))
        join.add(Self.event("e5", .reviewReplied, "2025-01-06", ["review": "r-1", "by": "ben", "text": "Again"]))
        join.add(Self.event("e6", .reviewPosted, "2025-01-07", ["review": "r-2", "sku": "TEA", "rating": 3], customer: "c-2"))
        #expect(join.rows.map(\.review) == ["r-1", "r-2"])
        let first = join.rows[0]
        #expect(first.rating == 5 && first.text == "Lovely" && first.order == "o-1" && first.postedAt == Self.at("2025-01-02"))
        #expect(first.repliedAt == Self.at("2025-01-05") && first.replyBy == "anna" && first.replyText == "Thank you!")
        #expect(join.rows[1].customer == "c-2" && join.rows[1].repliedAt == nil)
    }

    @Test("a return joins its refund, exact in the refund's currency; a refund before its request starts the row")
    func returns() {
        var join = ReturnJoin()
        join.add(Self.event("e1", .returnRequested, "2025-02-01", [
            "return": "ret-1", "order": "o-1", "reason": "too small",
            "lines": .array([.object(JSONObject(["sku": "MUG", "quantity": 2])), .object(JSONObject(["sku": "TEA"]))]),
        ]))
        join.add(Self.event("e2", .returnRefunded, "2025-02-03", ["return": "ret-2", "order": "o-2", "amount": "5", "currency": "JPY"]))
        join.add(Self.event("e3", .returnRefunded, "2025-02-04", ["return": "ret-1", "order": "o-1", "amount": "12.50", "currency": "EUR"]))
        #expect(join.rows.map(\.returnID) == ["ret-1", "ret-2"])
        let first = join.rows[0]
        #expect(first.lines?.map(\.sku) == ["MUG", "TEA"] && first.lines?.map(\.quantity) == [2, 1])
        #expect(first.refund == Money(minorUnits: 1250, currency: Currency(code: "EUR")!) && first.refundedAt == Self.at("2025-02-04"))
        #expect(join.rows[1].requestedAt == nil && join.rows[1].refund == Money(minorUnits: 5, currency: Currency(code: "JPY")!))
    }

    @Test("the calibration holdout is the last third of the history, at least 90 days, and needs a calibration period")
    func holdoutSplit() {
        #expect(Calibration.holdoutSplit(firstDay: 0, lastDay: 900) == CivilDate(daysSinceEpoch: 600))
        #expect(Calibration.holdoutSplit(firstDay: 0, lastDay: 200) == CivilDate(daysSinceEpoch: 110))
        #expect(Calibration.holdoutSplit(firstDay: 10, lastDay: 100) == nil)
    }
}
