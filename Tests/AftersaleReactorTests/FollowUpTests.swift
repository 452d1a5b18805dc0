import AftersaleCore
import AftersaleReactor
import Testing

@Suite("Replenishment, care, cross-sell, rewards")
struct FollowUpTests {
    @Test("cosmetics are replenished at the start of the 8-12 week cadence and the reminder is cancelled when the customer rebuys")
    func replenishment() throws {
        var j = Journey()
        j.register()
        let first = j.order("o-1", "2025-02-03T10:00:00Z", total: "24.00", lines: [("CREAM-1", 2, "12.00", "cosmetics")], id: "ev-o1")
        let reminder = try #require(first.schedule.first { $0.kind == .replenishmentReminder })
        #expect(reminder.id == "replenishment_reminder:ev-o1:cosmetics")
        #expect(reminder.due == at("2025-03-31T10:00:00Z"))  // + 56 days
        #expect(reminder.payload["value"]?.moneyText == "24.00 EUR")
        #expect(reminder.reason.contains("cosmetics cadence 56-84 days"))

        let rebuy = j.order("o-2", "2025-03-20T10:00:00Z", total: "12.00", lines: [("CREAM-1", 1, "12.00", "cosmetics")], id: "ev-o2")
        #expect(rebuy.cancel.first?.commandID == reminder.id)
        #expect(rebuy.cancel.first?.reason == "rebought CREAM-1 in order o-2")
        #expect(rebuy.schedule.contains { $0.id == "replenishment_reminder:ev-o2:cosmetics" })
    }

    @Test("a median repurchase interval learned for the SKU wins over the category cadence")
    func learnedInterval() throws {
        var j = Journey()
        j.register()
        // The engine learns no repurchase intervals: the play is asked directly, with a context that knows one.
        let order = j.event(.orderPlaced, "2025-02-03T10:00:00Z", ["order": "o-1", "total": "12.00", "currency": "EUR",
            "lines": .array([.object(JSONObject(["sku": "CREAM-1", "quantity": 1, "price": "12.00", "category": "cosmetics"]))])])
        var after = j.state
        after.apply(order)
        let context = ReactorContext(now: order.at, replenishmentDaysBySKU: ["CREAM-1": 30], timeZoneOffset: testOffset)
        let decision = Reactor.react(to: order, before: j.state, after: after, outbox: j.outbox, context: context)
        let reminder = try #require(decision.schedule.first { $0.kind == .replenishmentReminder })
        #expect(reminder.due == at("2025-03-05T10:00:00Z"))
        #expect(reminder.reason.contains("learned from the log: 30 days"))
    }

    @Test("durable goods get care tips after delivery; other categories do not")
    func careTips() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z", lines: [("SHOE-1", 1, "89.00", "footwear"), ("TEA-1", 1, "9.00", "tea")])
        let delivered = j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", id: "ev-delivered", ["order": "o-1"])
        let tips = delivered.schedule.filter { $0.kind == .careTips }
        #expect(tips.map(\.id) == ["care_tips:ev-delivered:footwear"])
        #expect(tips.first?.skus == ["SHOE-1"])
        #expect(tips.first?.due == at("2025-02-09T12:00:00Z"))
    }

    @Test("cross-sell recommends what is most often bought next, leaving out what the customer owns")
    func crossSell() throws {
        var j = Journey()
        j.engine.coPurchases = ["KNIFE-1": ["BOARD-1": 40, "SHARPENER-1": 37, "APRON-1": 12, "RARE-1": 1]]
        j.register()
        j.order("o-0", "2025-01-13T10:00:00Z", lines: [("BOARD-1", 1, "20.00", "kitchen")])
        j.order("o-1", "2025-02-03T10:00:00Z", lines: [("KNIFE-1", 1, "49.00", "kitchen")])
        let event = j.event(.shipmentDelivered, "2025-02-06T12:00:00Z", id: "ev-delivered", ["order": "o-1"])
        let before = j.state
        let delivered = j.happen(event)
        #expect(delivered.schedule.first { $0.kind == .crossSell }?.payload["recommendations"]?.arrayValue?.compactMap { $0["sku"]?.stringValue }
            == ["SHARPENER-1", "APRON-1"], "the engine recommends from what it learned")
        // The engine knows no product names or links: the play is asked again, with a context that knows the sharpener's.
        let context = ReactorContext(now: event.at, crossSell: ["KNIFE-1": [CoPurchase(sku: "BOARD-1", count: 40), CoPurchase(sku: "SHARPENER-1", count: 37),
                                                                            CoPurchase(sku: "APRON-1", count: 12), CoPurchase(sku: "RARE-1", count: 1)]],
                                     products: ["SHARPENER-1": ProductInfo(name: "Whetstone", link: "https://shop.example/p/sharpener-1")],
                                     timeZoneOffset: testOffset)
        let offer = try #require(Reactor.react(to: event, before: before, after: j.state, outbox: [], context: context).schedule.first { $0.kind == .crossSell })
        let recommended = offer.payload["recommendations"]?.arrayValue ?? []
        #expect(recommended.compactMap { $0["sku"]?.stringValue } == ["SHARPENER-1", "APRON-1"])
        #expect(recommended.first?["link"] == .string("https://shop.example/p/sharpener-1"))
        #expect(recommended.first?["bought_after_by"] == .integer(37))
        #expect(offer.due == at("2025-02-16T12:00:00Z"))
        #expect(offer.reason.contains("SHARPENER-1 (bought after KNIFE-1 by 37)"))
    }

    @Test("the third order earns a milestone reward, taken back if that order is cancelled")
    func milestone() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-01-13T10:00:00Z")
        j.order("o-2", "2025-02-03T10:00:00Z")
        let third = j.order("o-3", "2025-03-03T10:00:00Z", id: "ev-o3")
        let reward = try #require(third.schedule.first { $0.kind == .loyaltyReward })
        #expect(reward.id == "loyalty_reward:ev-o3:order-3")
        #expect(reward.payload["offer"]?["coupon"]?.moneyText == "10.00 EUR")
        #expect(reward.due == at("2025-03-04T10:00:00Z"))
        let cancelled = j.happen(.orderCancelled, "2025-03-03T12:00:00Z", ["order": "o-3"])
        #expect(cancelled.cancel.map(\.commandID) == [reward.id])
    }

    @Test("a predicted CLV above the VIP threshold brings VIP treatment once a year")
    func vip() throws {
        var j = Journey(predictions: ["c-1": CustomerForecast(pAlive: 0.95, predictedCLV: .eur("812.00"))])
        j.register()
        j.order("o-1", "2025-01-13T10:00:00Z")
        // The forecast is there from the first order on: the first tick of the clock after it (14 January) treats them.
        j.happen(.shipmentDelivered, "2025-01-15T10:00:00Z", ["order": "o-1"])
        let vip = try #require(j.commands(.loyaltyReward).first)
        #expect(vip.id == "loyalty_reward:c-1:vip-2025")
        #expect(vip.trigger == "clock")
        #expect(vip.reason.hasPrefix("VIP: predicted CLV 812.00 EUR >= 500.00 EUR"))
        // Once a year: the clock through the rest of the year, and a replay of it, schedule no second one.
        #expect(!j.advance(to: "2025-12-31T12:00:00Z").schedule.contains { $0.kind == .loyaltyReward })
        j.setClock(back: "2025-01-13T00:00:00Z")
        #expect(!j.advance(to: "2025-12-31T12:00:00Z").schedule.contains { $0.kind == .loyaltyReward })
        #expect(j.commands(.loyaltyReward).map(\.id) == ["loyalty_reward:c-1:vip-2025"])
    }
}

@Suite("The clock: birthdays, anniversaries, win-back")
struct ClockTests {
    @Test("a birthday is scheduled once, 8 days ahead, due at 09:00 in the customer's time zone")
    func birthdayInTokyo() throws {
        var j = Journey(customer: "c-7")
        j.register("2025-02-20T01:00:00Z", timezone: "Asia/Tokyo", birthday: "--07-21")
        // 09:00 in Tokyo on 21 July is 00:00 UTC; it is announced 8 days ahead, at 00:00 UTC on Sunday the 13th:
        // not yet in a run at 23:00 UTC on the 12th...
        #expect(j.advance(to: "2025-07-12T23:00:00Z").schedule.isEmpty)
        // ... but by the Monday tick after it (the 14th), due at the moment itself.
        let next = j.advance(to: "2025-07-14T23:00:00Z")
        let offer = try #require(next.schedule.first)
        #expect(offer.id == "birthday_offer:c-7:2025")
        #expect(offer.due == at("2025-07-21T00:00:00Z"))
        #expect(offer.payload["offer"]?["type"] == .string("free_shipping"))
        // Running the same ticks again schedules nothing new.
        j.setClock(back: "2025-07-07T00:00:00Z")
        #expect(j.advance(to: "2025-07-14T23:00:00Z").schedule.isEmpty)
    }

    @Test("a daily cron over a year yields exactly one birthday and one anniversary, with the year in the id")
    func dailyCron() {
        var j = Journey(customer: "c-7")
        j.register("2025-02-20T01:00:00Z", timezone: "Asia/Tokyo", birthday: "--07-21")
        var day = at("2025-02-21T03:00:00Z")
        while day < at("2026-02-25T03:00:00Z") {
            let next = day.adding(millis: Timestamp.millisPerDay)
            j.advance(to: next.description)
            day = next
        }
        #expect(j.outbox.filter { $0.kind == .birthdayOffer }.map(\.id) == ["birthday_offer:c-7:2025"])
        #expect(j.outbox.filter { $0.kind == .anniversaryOffer }.map(\.id) == ["anniversary_offer:c-7:2026"])
        #expect(j.command("anniversary_offer:c-7:2026")?.due == at("2026-02-20T00:00:00Z"))
    }

    @Test("Berlin summer time: the birthday is due at 07:00 UTC, with the customer's discount")
    func birthdayInBerlin() throws {
        var j = Journey()
        j.register(birthday: "1988-06-14")
        j.order("o-1", "2025-02-03T10:00:00Z")
        let tick = j.advance(to: "2025-06-09T12:00:00Z")  // announced 8 days ahead (6 June), scheduled at the Monday tick after
        let offer = try #require(tick.schedule.first { $0.kind == .birthdayOffer })
        #expect(offer.due == at("2025-06-14T07:00:00Z"))
        // Neither the age nor the date goes into the outbox: it keeps no personal data.
        #expect(offer.payload["age"] == nil)
        #expect(!offer.reason.contains("birthday 06-14"))
        #expect(offer.payload["offer"]?["coupon"]?.moneyText == "10.00 EUR")
    }

    @Test("a birthday long past is not sent late when the clock first runs")
    func noStaleBirthdays() {
        var j = Journey()
        j.register(birthday: "1988-06-14")
        // The engine's clock starts with the customer's first event; a cron caller of the plays may start later.
        let first = Reactor.advance(state: j.state, from: at("2025-01-01T00:00:00Z"), to: at("2025-07-01T00:00:00Z"), outbox: j.outbox,
                                    context: ReactorContext(now: at("2025-07-01T00:00:00Z"), timeZoneOffset: testOffset))
        #expect(first.schedule.isEmpty)
    }

    func lapsing(pAlive: Double, clv: String) -> Journey {
        var j = Journey(predictions: ["c-1": CustomerForecast(pAlive: pAlive, predictedCLV: .eur(clv))])
        j.register()
        j.order("o-1", "2025-01-13T10:00:00Z")
        j.happen(.shipmentDelivered, "2025-01-15T10:00:00Z", ["order": "o-1"])
        j.order("o-2", "2025-06-01T10:00:00Z")
        return j
    }

    @Test("win-back never while an order is open, then for a customer worth it when P(alive) is low")
    func winBack() throws {
        var j = lapsing(pAlive: 0.31, clv: "412.00")
        #expect(!j.advance(to: "2025-06-11T12:00:00Z").schedule.contains { $0.kind == .winBack })
        // The delivery is reported late; the Monday tick after it judges the lapse.
        j.happen(.shipmentDelivered, "2025-06-04T10:00:00Z", ["order": "o-2"])
        let tick = j.advance(to: "2025-06-16T16:00:00Z")
        let winBack = try #require(tick.schedule.first { $0.kind == .winBack })
        #expect(winBack.id == "win_back:c-1:since-2025-06-01")
        #expect(winBack.reason.hasPrefix("P(alive) 0.31 < 0.40, predicted CLV 412.00 EUR >= 100.00 EUR; no open order"))
        #expect(winBack.payload["offer"]?["coupon"]?.moneyText == "10.00 EUR")
        #expect(winBack.status == .pending)
        // A new order makes it moot.
        let order = j.order("o-3", "2025-06-17T09:00:00Z", id: "ev-o3")
        #expect(order.cancel.contains(Cancellation(commandID: winBack.id, byEventID: "ev-o3", reason: "new order o-3 placed")))
    }

    @Test("an undelivered order stops counting as open after open_order_days")
    func staleOpenOrder() {
        var j = lapsing(pAlive: 0.2, clv: "412.00")
        #expect(j.advance(to: "2025-06-30T12:00:00Z").schedule.isEmpty)
        #expect(j.advance(to: "2025-07-02T12:00:00Z").schedule.map(\.kind) == [.winBack])
    }

    @Test("customers not worth it get no win-back")
    func notWorthIt() {
        var j = lapsing(pAlive: 0.1, clv: "20.00")
        j.happen(.shipmentDelivered, "2025-06-04T10:00:00Z", ["order": "o-2"])
        // Historical 119.60 EUR is above the 100.00 threshold: raise it.
        j.configuration.winBack.minValue = MoneyTable(minorUnits: ["EUR": 20000])
        #expect(j.advance(to: "2025-06-16T12:00:00Z").schedule.isEmpty)  // the Monday ticks of 9 and 16 June
    }

    @Test("without a model, a single order overdue by the default gap plus grace triggers the win-back")
    func overdueWithoutModel() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-01-13T18:00:00Z", total: "150.00", lines: [("BAG-1", 1, "150.00", "bags")])
        j.happen(.shipmentDelivered, "2025-01-15T10:00:00Z", ["order": "o-1"])
        // 90 + 14 days after 13 January, 18:00, is 27 April, 18:00; the Monday tick after it (28 April) finds it 14 days overdue.
        #expect(j.advance(to: "2025-04-26T12:00:00Z").schedule.isEmpty)
        let tick = j.advance(to: "2025-04-28T12:00:00Z")
        let winBack = try #require(tick.schedule.first)
        #expect(winBack.reason.hasPrefix("expected next order 2025-04-13 (single order + default gap 90 days) is 14 days overdue"))
        #expect(winBack.reason.contains("historical net value 150.00 EUR >= 100.00 EUR"))
    }
}
