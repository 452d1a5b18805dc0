import AftersaleCore
import AftersaleReactor
import Foundation
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    @Test("an empty file gives the documented defaults")
    func empty() throws {
        let config = try ReactorConfiguration.load(json: "{}")
        #expect(config == ReactorConfiguration())
        #expect(config.reviewRequest.windowDays == .init(7, 15))
        #expect(config.contact.gapHours[.email] == 16 && config.contact.gapHours[.sms] == 24)
        #expect(config.replenishment.cadenceDays["cosmetics"] == .init(56, 84))
    }

    @Test("the example in README.md is exactly the defaults")
    func readmeIsAccurate() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/AftersaleReactor/README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try #require(text.range(of: "```json\n"))
        let end = try #require(text.range(of: "\n```", range: start.upperBound..<text.endIndex))
        let config = try ReactorConfiguration.load(json: String(text[start.upperBound..<end.lowerBound]))
        #expect(config == ReactorConfiguration())
    }

    @Test("values are read, money exactly")
    func values() throws {
        let config = try ReactorConfiguration.load(json: """
            {"review_request": {"window_days": [10, 20], "transit_days": 2},
             "contact": {"quiet_hours": null, "channels": ["sms", "email"], "gap_hours": {"sms": 48}},
             "review_reply": {"apology_coupon": {"base": {"KWD": "1.500"}, "percent_of_value": 7.5}},
             "disabled": ["cross_sell"], "birthday": {"offer": "free_shipping"}}
            """)
        #expect(config.reviewRequest.windowDays == .init(10, 20))
        #expect(config.reviewRequest.transitDays == 2)
        #expect(config.contact.quietHours == nil)
        #expect(config.contact.channels == [.sms, .email])
        #expect(config.contact.gapHours[.sms] == 48 && config.contact.gapHours[.email] == 16)
        #expect(config.reviewReply.apologyCoupon.base.amount(in: "KWD")?.description == "1.500 KWD")
        #expect(config.reviewReply.apologyCoupon.base.amount(in: "EUR") == nil)
        #expect(config.reviewReply.apologyCoupon.basisPointsOfValue == 750)
        #expect(config.disabled == [.crossSell])
        #expect(config.birthday.offer == .freeShipping)
    }

    @Test("errors name the key path and why", arguments: [
        (#"{"review_request": {"window_days": [15, 7]}}"#, "review_request.window_days: expected [min, max] with 0 <= min <= max"),
        (#"{"review_request": {"window_days": 7}}"#, "review_request.window_days: expected [min, max] with 0 <= min <= max"),
        (#"{"review_request": {"window": [7, 15]}}"#, "review_request.window: unknown key"),
        (#"{"reviews": {}}"#, "reviews: unknown key"),
        (#"{"contact": {"gap_hours": {"fax": 1}}}"#, "contact.gap_hours.fax: expected a channel (email, sms, push)"),
        (#"{"contact": {"quiet_hours": ["21:00", "8"]}}"#, #"contact.quiet_hours: expected ["HH:MM", "HH:MM"] (start, end) or null"#),
        (#"{"contact": {"max_marketing_per_7_days": -1}}"#, "contact.max_marketing_per_7_days: expected an integer >= 0"),
        (#"{"win_back": {"p_alive_below": 1.5}}"#, "win_back.p_alive_below: expected a number from 0 to 1"),
        (#"{"win_back": {"coupon": {"EUR": "10.005"}}}"#, "win_back.coupon.EUR: too many decimal places (EUR has 2)"),
        (#"{"win_back": {"coupon": {"EUX": "10"}}}"#, "win_back.coupon.EUX: unknown currency code"),
        (#"{"win_back": {"coupon": {"EUR": "10,00"}}}"#, "win_back.coupon.EUR: not a decimal amount"),
        (#"{"loyalty": {"milestones": [3, 0]}}"#, "loyalty.milestones[1]: expected an order count >= 1"),
        (#"{"disabled": ["newsletter"]}"#, "disabled[0]: expected a command kind (order_confirmation, dispatch_notice, delivery_issue_apology, review_request, review_reply, unboxing_invite, unboxing_reward, return_confirmation, return_satisfaction_check, replenishment_reminder, care_tips, cross_sell, birthday_offer, anniversary_offer, loyalty_reward, win_back)"),
        (#"{"arbitration": {"propensity": {"spam": 0.5}}}"#, "arbitration.propensity.spam: unknown command kind"),
        (#"{"birthday": {"hour": 24}}"#, "birthday.hour: expected an integer hour from 0 to 23"),
        (#"{"cross_sell": []}"#, "cross_sell: expected an object, got an array"),
        (#"[]"#, "expected a JSON object"),
    ])
    func errors(json: String, message: String) {
        let error = #expect(throws: ConfigurationError.self) { try ReactorConfiguration.load(json: json) }
        #expect(error?.description == message)
    }

    @Test("a syntax error says where")
    func syntax() {
        let error = #expect(throws: ConfigurationError.self) { try ReactorConfiguration.load(json: #"{"contact": }"#) }
        #expect(error?.path == "json")
        #expect(error?.reason.hasPrefix("invalid JSON") == true)
    }

    @Test("a configured window changes the review request's due time")
    func configuredWindow() throws {
        let config = try ReactorConfiguration.load(json: #"{"review_request": {"window_days": [10, 20]}}"#)
        var j = Journey(configuration: config)
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        let delivered = j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", ["order": "o-1"])
        #expect(delivered.schedule.first { $0.kind == .reviewRequest }?.due == at("2025-02-16T12:00:00Z"))
    }

    @Test("the fingerprint names the settings: equal settings built in any order agree, any change differs")
    func fingerprint() throws {
        var a = ReactorConfiguration()
        a.disabled = [.crossSell, .winBack, .careTips, .birthdayOffer]
        var b = ReactorConfiguration()
        for kind in [CommandKind.birthdayOffer, .careTips, .winBack, .crossSell] { b.disabled.insert(kind) }
        b.contact.gapHours = [:]
        for (channel, hours) in ReactorConfiguration().contact.gapHours.sorted(by: { $0.key.rawValue > $1.key.rawValue }) {
            b.contact.gapHours[channel] = hours
        }
        #expect(a == b && a.fingerprint == b.fingerprint)
        #expect(a.fingerprint.count == 16)
        var c = a
        c.winBack.overdueGraceDays += 1
        #expect(c.fingerprint != a.fingerprint)
        var d = a
        d.contact.gapHours[.sms] = 25
        #expect(d.fingerprint != a.fingerprint)
        var e = a
        e.disabled.remove(.careTips)
        #expect(e.fingerprint != a.fingerprint)
        #expect(ReactorConfiguration().fingerprint == ReactorConfiguration().fingerprint)
    }
}
