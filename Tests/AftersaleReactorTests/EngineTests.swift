import AftersaleCore
import AftersaleReactor
import Testing

/// Events of a customer who buys once, gets the parcel, and is predicted to be worth a lot.
private func vipCustomerEvents() -> [Event] {
    func e(_ id: String, _ type: EventType, _ at: String, _ data: KeyValuePairs<String, JSONValue>) -> Event {
        Event(id: id, type: type, customer: "vip", at: try! Timestamp.parse(at), data: JSONObject(data))
    }
    let line: JSONValue = .object(JSONObject(["sku": "BAG-1", "quantity": 1, "price": "800.00", "category": "apparel"]))
    return [
        e("r", .customerRegistered, "2025-03-03T09:00:00Z", ["consent": .object(JSONObject(["email": true])), "timezone": "Europe/Berlin"]),
        e("o", .orderPlaced, "2025-03-03T10:00:00Z", ["order": "o-1", "total": "800.00", "currency": "EUR", "lines": .array([line])]),
        e("s", .shipmentDispatched, "2025-03-04T10:00:00Z", ["order": "o-1"]),
        e("d", .shipmentDelivered, "2025-03-06T10:00:00Z", ["order": "o-1"]),
    ]
}

private func engine() -> ReactorEngine {
    var engine = ReactorEngine(configuration: ReactorConfiguration(), timeZoneOffset: { _, _ in 60 })
    let eur = Currency(code: "EUR")!
    // Worth a VIP treatment only from the forecast boundary of 10 April 2025 on.
    let from = try! Timestamp.parse("2025-04-10T00:00:00Z")
    engine.forecaster = { _, moment in
        CustomerForecast(pAlive: 0.9, predictedCLV: Money(minorUnits: moment >= from ? 90_000 : 10_000, currency: eur))
    }
    return engine
}

@Suite("The reactor engine's clock")
struct EngineClockTests {
    @Test("the clock ticks daily while an order placed in the last 30 days is neither delivered nor cancelled, else on Mondays")
    func tickSchedule() {
        func e(_ id: String, _ type: EventType, _ at: String, _ data: KeyValuePairs<String, JSONValue>) -> Event {
            Event(id: id, type: type, customer: "c", at: try! Timestamp.parse(at), data: JSONObject(data))
        }
        func t(_ text: String) -> Timestamp { try! Timestamp.parse(text) }
        var state = CustomerState(customer: "c")
        let line: JSONValue = .object(JSONObject(["sku": "MUG-1", "quantity": 1, "price": "10.00"]))
        for event in [
            e("o1", .orderPlaced, "2025-03-03T10:00:00Z", ["order": "o-1", "total": "10.00", "currency": "EUR", "lines": .array([line])]),
            e("o2", .orderPlaced, "2025-03-10T10:00:00Z", ["order": "o-2", "total": "10.00", "currency": "EUR", "lines": .array([line])]),
            e("d1", .shipmentDelivered, "2025-03-12T10:00:00Z", ["order": "o-1"]),
        ] { state.apply(event) }
        // o-2, placed 10 March 10:00, is in flight while the clock is less than 30 days after it.
        #expect(ReactorEngine.nextTick(after: t("2025-03-20T00:00:00Z"), state: state) == t("2025-03-21T00:00:00Z"))
        #expect(ReactorEngine.nextTick(after: t("2025-04-09T00:00:00Z"), state: state) == t("2025-04-10T00:00:00Z"))
        // 30 days after o-2 was placed is 9 April 10:00: from the clock of 10 April on, Mondays (14 April).
        #expect(ReactorEngine.nextTick(after: t("2025-04-10T00:00:00Z"), state: state) == t("2025-04-14T00:00:00Z"))
        #expect(ReactorEngine.nextTick(after: t("2025-04-14T00:00:00Z"), state: state) == t("2025-04-21T00:00:00Z"))
        // Delivered, cancelled or never placed: no order in flight, Mondays only.
        state.apply(e("d2", .shipmentDelivered, "2025-03-14T10:00:00Z", ["order": "o-2"]))
        #expect(ReactorEngine.nextTick(after: t("2025-03-20T00:00:00Z"), state: state) == t("2025-03-24T00:00:00Z"))
        #expect(ReactorEngine.nextTick(after: t("2025-03-24T00:00:00Z"), state: state) == t("2025-03-31T00:00:00Z"))
    }

    @Test("runs at arbitrary hours decide exactly what one run at the end decides")
    func runScheduleDoesNotMatter() {
        let events = vipCustomerEvents()
        var once = engine()
        for event in events { once.apply(event) }
        once.advance(to: try! Timestamp.parse("2025-04-30T18:00:00Z"))

        var cron = engine()
        for event in events { cron.apply(event) }
        // Runs on a Wednesday afternoon, a Friday morning, then every other day at odd hours.
        var run = try! Timestamp.parse("2025-03-12T15:17:00Z")
        for step in [1.8, 2.3, 1.1, 3.7, 2.9, 5.2, 0.4, 6.6, 7.1, 2.2, 4.4] {
            cron.advance(to: run)
            run = run.adding(days: step)
        }
        cron.advance(to: try! Timestamp.parse("2025-04-30T18:00:00Z"))

        #expect(once.outbox(of: "vip").count >= 3)
        #expect(cron.outbox(of: "vip") == once.outbox(of: "vip"))
        // VIP is judged at the first tick boundary once the value is there: Monday 14 April 00:00 UTC (moved
        // out of quiet hours to 08:00 local, UTC+1), not at the cron run of Saturday 12 April.
        let vip = once.outbox(of: "vip").first { $0.id.hasPrefix("loyalty_reward:vip:vip-") }
        #expect(vip?.due == (try! Timestamp.parse("2025-04-14T07:00:00Z")))
    }
}
