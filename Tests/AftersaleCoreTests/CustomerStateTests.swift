import AftersaleCore
import Testing

/// Builds events for journeys: `e("order.placed", "2025-03-01T10:00:00Z", ["order": "o-1", ...])`.
func journeyEvent(_ id: String, _ type: EventType, _ at: String, _ data: KeyValuePairs<String, JSONValue>, customer: String = "c-1") -> Event {
    Event(id: id, type: type, customer: customer, at: try! Timestamp.parse(at), data: JSONObject(data))
}

func placed(_ id: String, _ order: String, _ at: String, total: String, currency: String = "EUR", skus: [String] = ["sku-1"]) -> Event {
    journeyEvent(id, .orderPlaced, at, ["order": .string(order), "total": .string(total), "currency": .string(currency),
                                        "lines": .array(skus.map { .object(JSONObject(["sku": .string($0), "quantity": .integer(1), "price": .string(total)])) })])
}

func fold(_ events: [Event], customer: String = "c-1") -> CustomerState {
    var state = CustomerState(customer: customer)
    for event in events { state.apply(event) }
    return state
}

@Suite("A customer's state, folded from their events")
struct CustomerStateTests {
    @Test("orders, a cancellation and a refund give the net historical value per currency, exactly")
    func netValue() throws {
        let state = fold([
            placed("1", "o-1", "2025-01-10T10:00:00Z", total: "59.80"),
            placed("2", "o-2", "2025-02-10T10:00:00Z", total: "20.00"),
            journeyEvent("3", .orderCancelled, "2025-02-10T11:00:00Z", ["order": "o-2"]),
            placed("4", "o-3", "2025-03-10T10:00:00Z", total: "1200", currency: "JPY"),
            journeyEvent("5", .returnRequested, "2025-01-20T10:00:00Z", ["order": "o-1", "return": "r-1"]),
            journeyEvent("6", .returnRefunded, "2025-01-25T10:00:00Z", ["order": "o-1", "return": "r-1", "amount": "10.01", "currency": "EUR"]),
        ])
        #expect(state.netValue.minorUnits == ["EUR": 5980 - 1001, "JPY": 1200])
        #expect(state.placedValue.minorUnits == ["EUR": 7980, "JPY": 1200] && state.cancelledValue.minorUnits == ["EUR": 2000]
                    && state.refundedValue.minorUnits == ["EUR": 1001],
                "each sum is kept per currency, a second currency beside the first")
        let eur = try #require(Currency(code: "EUR")), jpy = try #require(Currency(code: "JPY"))
        #expect(state.netValue.amounts == [Money(minorUnits: 4979, currency: eur), Money(minorUnits: 1200, currency: jpy)])
        #expect(state.primaryCurrency == eur && state.historicalValue == Money(minorUnits: 4979, currency: eur))
        #expect(state.refundedValue[jpy] == Money(minorUnits: 0, currency: jpy) && state.cancelledValue[eur].description == "20.00 EUR")
        #expect(state.orderCount == 2)
        #expect(state.purchaseDays.map(\.value) == [5980], "cancelled orders and other currencies are not purchases of the primary currency")
        #expect(state.openReturns.isEmpty && state.returnsRefunded == 1)
        #expect(state.averageOrderValue == Money(minorUnits: 5980, currency: eur), "the JPY order is not averaged into EUR")
    }

    @Test("a delivery that arrives before its order is kept and joined when the order comes")
    func outOfOrder() {
        let state = fold([
            journeyEvent("1", .shipmentDelivered, "2025-03-05T10:00:00Z", ["order": "o-9"]),
            placed("2", "o-9", "2025-03-01T10:00:00Z", total: "10.00"),
        ])
        #expect(state.orders["o-9"]?.deliveredAt != nil && state.orders["o-9"]?.placedAt != nil)
        #expect(state.openOrders.isEmpty)
        #expect(state.orderCount == 1)
    }

    @Test("same-day orders are one purchase occasion; a cancellation removes the day only when nothing else was bought")
    func purchaseDays() {
        var events = [
            placed("1", "o-1", "2025-01-10T09:00:00Z", total: "10.00"),
            placed("2", "o-2", "2025-01-10T18:00:00Z", total: "5.00"),
            placed("3", "o-3", "2025-01-12T18:00:00Z", total: "7.00"),
        ]
        #expect(fold(events).purchaseDays.map(\.value) == [1500, 700])
        events.append(journeyEvent("4", .orderCancelled, "2025-01-12T19:00:00Z", ["order": "o-3"]))
        events.append(journeyEvent("5", .orderCancelled, "2025-01-10T19:00:00Z", ["order": "o-1"]))
        let state = fold(events)
        #expect(state.purchaseDays == [.init(day: CivilDate(year: 2025, month: 1, day: 10).daysSinceEpoch, value: 500)])
        #expect(state.lastOrderAt == (try! Timestamp.parse("2025-01-10T18:00:00Z")))
    }

    @Test("a one-star review stays unanswered until the merchant replies")
    func reviews() {
        var events = [
            journeyEvent("1", .reviewPosted, "2025-01-10T09:00:00Z", ["review": "rv-1", "sku": "sku-1", "rating": 1]),
            journeyEvent("2", .reviewPosted, "2025-01-11T09:00:00Z", ["review": "rv-2", "sku": "sku-2", "rating": 5]),
        ]
        #expect(fold(events).unansweredNegativeReviews == ["rv-1"])
        #expect(fold(events).reviewedSKUs == ["sku-1", "sku-2"])
        events.append(journeyEvent("3", .reviewReplied, "2025-01-12T09:00:00Z", ["review": "rv-1"]))
        #expect(fold(events).unansweredNegativeReviews.isEmpty)
        #expect(fold(events).unansweredReviews == ["rv-2": 5])
    }

    @Test("consent from a version-1 event is upcast before it is folded")
    func consent() {
        let v1 = Event(id: "1", type: .customerRegistered, customer: "c-1", at: try! Timestamp.parse("2025-01-01T00:00:00Z"), schema: 1,
                       data: JSONObject(["consent": .array([.string("sms")]), "birthday": .string("--06-14")]))
        let state = fold([v1])
        #expect(state.consent == ["email": false, "sms": true, "push": false])
        #expect(state.birthday?.description == "--06-14")
    }

    @Test("lifecycle stages follow their written definitions", arguments: [
        (0, 10.0, LifecycleStage.prospect), (1, 10, .new), (1, 100, .atRisk), (2, 10, .repeat), (5, 10, .loyal),
        (5, 400, .lapsed), (2, 200, .atRisk),
    ])
    func stages(orders: Int, daysSinceLast: Double, stage: LifecycleStage) {
        var events: [Event] = []
        for i in 0..<orders {
            let day = CivilDate(daysSinceEpoch: CivilDate(year: 2025, month: 1, day: 1).daysSinceEpoch + Int64(i * 20))
            events.append(placed("\(i)", "o-\(i)", "\(day)T10:00:00Z", total: "10.00"))
        }
        let state = fold(events)
        let last = state.lastOrderAt ?? (try! Timestamp.parse("2025-01-01T10:00:00Z"))
        #expect(LifecycleStage.classify(state, at: last.adding(days: daysSinceLast)) == stage)
    }
}
