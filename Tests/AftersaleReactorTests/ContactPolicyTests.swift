import AftersaleCore
import AftersaleReactor
import Testing

@Suite("Contact policy")
struct ContactPolicyTests {
    @Test("quiet hours are written HH:MM, zero-padded, from midnight to the last minute of the day")
    func quietHoursWords() {
        #expect(ReactorConfiguration.QuietHours(start: 0, end: 1439).description == "00:00-23:59")
        #expect(ReactorConfiguration.QuietHours(start: 545, end: 600).description == "09:05-10:00")
        #expect(ReactorConfiguration.QuietHours(start: 21 * 60 + 30, end: 7 * 60 + 5).description == "21:30-07:05")
    }

    func deliveredJourney(consent: KeyValuePairs<String, JSONValue>) -> (Journey, ReactorDecision) {
        var j = Journey()
        j.register(consent: consent)
        j.order("o-1", "2025-02-03T10:00:00Z")
        let delivered = j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", id: "ev-delivered", ["order": "o-1"])
        return (j, delivered)
    }

    @Test("a customer who refused email gets SMS when consented to it")
    func fallsBackToSMS() throws {
        let (_, decision) = deliveredJourney(consent: ["email": .bool(false), "sms": .bool(true)])
        let request = try #require(decision.schedule.first { $0.kind == .reviewRequest })
        #expect(request.channel == .sms)
        #expect(request.status == .pending)
        #expect(request.reason.hasSuffix("; email refused, sent by sms"))
    }

    @Test("with no consented channel the command is recorded as suppressed, saying why")
    func suppressedWithoutConsent() throws {
        let (_, decision) = deliveredJourney(consent: ["email": .bool(false)])
        #expect(!decision.schedule.isEmpty)
        for command in decision.schedule {
            #expect(command.status.suppressionReason == "no consented channel: email refused, sms never consented, push never consented")
        }
    }

    @Test("two marketing commands in one slot: the lower expected value is suppressed and says why")
    func arbitration() throws {
        var config = ReactorConfiguration()
        config.crossSell.afterDays = 3  // the same moment as the care tips
        var j = Journey(configuration: config)
        j.engine.coPurchases = ["MUG-1": ["TEAPOT-1": 37]]
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        let decision = j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", id: "ev-delivered", ["order": "o-1"])
        let care = try #require(decision.schedule.first { $0.kind == .careTips })
        let crossSell = try #require(decision.schedule.first { $0.kind == .crossSell })
        #expect(crossSell.status == .pending)
        // Average order value 59.80 EUR: care tips 0.04 x 59.80 = 2.39, cross-sell 0.08 x 59.80 = 4.78.
        #expect(care.status.suppressionReason == "lost the email slot to cross_sell cross_sell:ev-delivered:o-1: "
            + "expected value care_tips 0.04 x 59.80 EUR = 2.39 EUR < cross_sell 0.08 x 59.80 EUR = 4.78 EUR")
    }

    @Test("a more valuable newcomer displaces a pending command from its slot")
    func displacement() throws {
        var j = Journey()
        j.engine.coPurchases = ["MUG-1": ["TEAPOT-1": 37]]
        j.register(birthday: "1990-06-11")
        j.order("o-1", "2025-06-01T07:00:00Z")
        j.happen(.shipmentDelivered, "2025-06-01T07:00:00Z", id: "ev-delivered", ["order": "o-1"])
        let crossSell = try #require(j.command("cross_sell:ev-delivered:o-1"))
        #expect(crossSell.due == at("2025-06-11T07:00:00Z"))
        // The birthday is announced 8 days ahead (3 June): the Monday tick after it, on 9 June, schedules it.
        let tick = j.advance(to: "2025-06-09T12:00:00Z")
        let birthday = try #require(tick.schedule.first { $0.kind == .birthdayOffer })
        #expect(birthday.due == at("2025-06-11T07:00:00Z"))
        #expect(birthday.status == .pending)
        #expect(tick.suppress.map(\.commandID) == [crossSell.id])
        #expect(tick.suppress.first?.reason.contains("expected value cross_sell 0.08 x 59.80 EUR = 4.78 EUR < birthday_offer 0.15 x 59.80 EUR = 8.97 EUR") == true)
    }

    @Test("smart sending: no marketing email within 16 hours of one already sent")
    func smartSending() throws {
        var j = Journey()
        j.register(birthday: "1990-06-11")
        j.engine.insert(Command(id: "cross_sell:ev-x:o-9", customer: "c-1", kind: .crossSell, channel: .email,
                                due: at("2025-06-11T04:00:00Z"), payload: JSONObject(), reason: "test", status: .dispatched, trigger: "ev-x"))
        let tick = j.advance(to: "2025-06-09T12:00:00Z")  // the birthday is announced 8 days ahead, scheduled at the Monday tick after
        let birthday = try #require(tick.schedule.first)
        #expect(birthday.status.suppressionReason == "smart sending: cross_sell cross_sell:ev-x:o-9 went out by email 3 h from this one (gap 16 h)")
    }

    @Test("at most N marketing messages in 7 days")
    func weeklyCap() throws {
        var config = ReactorConfiguration()
        config.contact.maxMarketingPer7Days = 1
        var j = Journey(configuration: config)
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        let decision = j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", ["order": "o-1"])
        let pending = decision.schedule.filter { $0.kind.contactClass == .marketing && $0.isPending }
        // The review request ranks first (0.10); the unboxing invite 5 days before it and the care tips would crowd its week.
        #expect(pending.map(\.kind) == [.reviewRequest])
        let care = try #require(decision.schedule.first { $0.kind == .careTips })
        #expect(care.status.suppressionReason?.hasPrefix("weekly cap: 2 marketing messages would fall in one 7-day window (max 1)") == true)
    }

    @Test("quiet hours move marketing and service to 08:00 local; transactional goes at once")
    func quietHours() throws {
        var j = Journey()
        j.register()
        let order = j.order("o-1", "2025-02-03T22:30:00+01:00")
        #expect(order.schedule.first { $0.kind == .orderConfirmation }?.due == at("2025-02-03T21:30:00Z"))
        let review = j.happen(.reviewPosted, "2025-02-10T22:30:00+01:00", ["review": "r-1", "sku": "MUG-1", "rating": .integer(5)])
        let reply = try #require(review.schedule.first)
        #expect(reply.due == at("2025-02-11T07:00:00Z"))
        #expect(reply.reason.hasSuffix("; moved from 22:30 to 08:00 local (quiet hours 21:00-08:00 Europe/Berlin)"))
    }

    @Test("release re-checks consent withdrawn after scheduling")
    func releaseRechecksConsent() throws {
        var (j, _) = deliveredJourney(consent: ["email": .bool(true), "sms": .bool(true)])
        let request = try #require(j.commands(.reviewRequest).first)
        #expect(request.channel == .email)
        j.happen(.customerUpdated, "2025-02-10T10:00:00Z", ["consent": .object(JSONObject(["email": .bool(false)]))])
        let released = try #require(j.release(dueBy: request.due).first { $0.id == request.id })
        #expect(released.channel == .sms)
        #expect(released.status == .pending)
        #expect(released.due == request.due)
    }
}

@Suite("Determinism")
struct DeterminismTests {
    @Test("re-processing the same event gives the same ids, and nothing new once they are in the outbox")
    func sameIDs() throws {
        var j = Journey()
        j.engine.coPurchases = ["MUG-1": ["TEAPOT-1": 37, "SAUCER-1": 37]]
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z", lines: [("CREAM-1", 1, "10.00", "cosmetics"), ("MUG-1", 1, "30.00", "kitchen"),
                                                       ("SOAP-1", 1, "5.00", "cosmetics")])
        let before = j.state
        let event = Event(id: "ev-delivered", type: .shipmentDelivered, customer: "c-1", at: at("2025-02-06T12:00:00Z"),
                          data: JSONObject(["order": "o-1"]))
        var after = before
        after.apply(event)
        let context = ReactorContext(now: event.at, crossSell: ["MUG-1": [CoPurchase(sku: "TEAPOT-1", count: 37), CoPurchase(sku: "SAUCER-1", count: 37)]],
                                     timeZoneOffset: testOffset)
        let first = Reactor.react(to: event, before: before, after: after, outbox: j.outbox, context: context)
        let second = Reactor.react(to: event, before: before, after: after, outbox: j.outbox, context: context)
        #expect(first == second)
        #expect(first.schedule.map(\.id) == [
            "unboxing_invite:ev-delivered", "care_tips:ev-delivered:kitchen", "review_request:ev-delivered:o-1", "cross_sell:ev-delivered:o-1",
        ])
        // Equal counts are ordered by SKU, not by dictionary order.
        let recommended = first.schedule.last?.payload["recommendations"]?.arrayValue?.compactMap { $0["sku"]?.stringValue }
        #expect(recommended == ["SAUCER-1", "TEAPOT-1"])
        // The engine decides the same, and once the ids are in its outbox, nothing new.
        #expect(j.happen(event).schedule == first.schedule)
        j.state = before
        #expect(j.happen(event).schedule.isEmpty)
    }

    @Test("the order placed gives one replenishment reminder per category, in a stable order")
    func stableGroups() {
        var j = Journey()
        j.register()
        let decision = j.order("o-1", "2025-02-03T10:00:00Z",
                               lines: [("SOAP-1", 1, "5.00", "cosmetics"), ("OIL-1", 1, "40.00", "industrial"), ("CREAM-1", 1, "10.00", "cosmetics")],
                               id: "ev-o")
        #expect(decision.schedule.filter { $0.kind == .replenishmentReminder }.map(\.id)
            == ["replenishment_reminder:ev-o:cosmetics", "replenishment_reminder:ev-o:industrial"])
        #expect(j.command("replenishment_reminder:ev-o:cosmetics")?.skus == ["SOAP-1", "CREAM-1"])
    }
}
