import AftersaleCore
@testable import AftersaleReactor
import Testing

@Suite("Configuration text")
struct ConfigurationTextTests {
    /// Every setting away from its default, and the lists and maps with more than one member.
    static var everySettingChanged: ReactorConfiguration {
        var c = ReactorConfiguration()
        c.disabled = [.winBack, .crossSell, .unboxingReward]
        c.contact.channels = [.push, .sms]
        c.contact.quietHours = .init(start: 22 * 60 + 30, end: 7 * 60)
        c.contact.gapHours = [.push: 2, .email: 12]
        c.contact.maxMarketingPer7Days = 5
        c.contact.defaultTimeZone = "Europe/Z\u{fc}rich \"old\""
        c.orderConfirmation.deliveryDays = .init(1, 3)
        c.orderConfirmation.contact = "help@example.com\nor call"
        c.delivery.lateAfterHours = 36
        c.reviewRequest.windowDays = .init(9, 12)
        c.reviewRequest.transitDays = 6
        c.reviewRequest.perProductDays = 180
        c.reviewReply.dueHours = 4
        c.reviewReply.apologyCoupon.base = MoneyTable(minorUnits: ["KWD": 1500, "EUR": 700])
        c.reviewReply.apologyCoupon.basisPointsOfValue = 750
        c.reviewReply.apologyCoupon.max = MoneyTable(minorUnits: [:])
        c.unboxing.inviteAfterDays = 5
        c.unboxing.incentive = MoneyTable(minorUnits: ["EUR": 300])
        c.unboxing.reward = MoneyTable(minorUnits: ["EUR": 400, "JPY": 600])
        c.returns.satisfactionCheckAfterDays = 9
        c.replenishment.cadenceDays = ["pets": .init(20, 30), "coffee": .init(14, 21), "cosmetics": .init(50, 60)]
        c.careTips.categories = ["garden"]
        c.careTips.afterDays = 8
        c.crossSell.afterDays = 21
        c.crossSell.maxItems = 5
        c.crossSell.minCount = 4
        c.birthday.hour = 7
        c.birthday.offer = .freeShipping
        c.birthday.coupon = MoneyTable(minorUnits: ["USD": 1234])
        c.anniversary.hour = 18
        c.anniversary.coupon = MoneyTable(minorUnits: ["GBP": 999, "CHF": 1000])
        c.loyalty.milestones = [2, 4, 8, 16]
        c.loyalty.afterDays = 3
        c.loyalty.milestoneCoupon = MoneyTable(minorUnits: ["EUR": 1])
        c.loyalty.vipMinPredictedCLV = MoneyTable(minorUnits: ["EUR": 123_456_789_012])
        c.winBack.pAliveBelow = 0.125
        c.winBack.overdueGraceDays = 30
        c.winBack.defaultGapDays = 60
        c.winBack.openOrderDays = 45
        c.winBack.minValue = MoneyTable(minorUnits: ["EUR": 0])
        c.winBack.coupon = MoneyTable(minorUnits: ["EUR": 2500, "USD": 2600])
        c.arbitration.propensity = [.crossSell: 1e-7, .winBack: 0.3333333333333333, .orderConfirmation: 1]
        c.clock.catchUpDays = 30
        return c
    }

    /// No quiet hours, and every list, set and map empty.
    static var empties: ReactorConfiguration {
        var c = ReactorConfiguration()
        c.contact.channels = []
        c.contact.quietHours = nil
        c.contact.gapHours = [:]
        c.replenishment.cadenceDays = [:]
        c.careTips.categories = []
        c.loyalty.milestones = []
        c.arbitration.propensity = [:]
        c.winBack.coupon = MoneyTable(minorUnits: [:])
        return c
    }

    static let configurations = ["defaults": ReactorConfiguration(), "every setting changed": everySettingChanged, "empties": empties]

    @Test("the fingerprint's text is what reflection finds: every setting, written the same way",
          arguments: configurations.keys.sorted())
    func sameAsReflected(name: String) throws {
        let configuration = try #require(Self.configurations[name])
        let (written, reflected) = (configuration.canonicalText, Self.reflected(configuration))
        #expect(written == reflected, "\(name): \(Self.firstDifference(written, reflected))")
    }

    /// A value's fields found by reflection, recursively, with the members of sets and maps in
    /// sorted order: how the fingerprint's text was first made, and what `canonicalText` must equal.
    static func reflected(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .set, .dictionary:
            return "[" + mirror.children.map { reflected($0.value) }.sorted().joined(separator: ",") + "]"
        case .struct, .class, .tuple, .collection, .optional, .enum:
            if mirror.children.isEmpty { return String(reflecting: value) }
            let fields = mirror.children.map { "\($0.label ?? ""):\(reflected($0.value))" }.joined(separator: ",")
            return "\(mirror.subjectType)(\(fields))"
        default:
            return String(reflecting: value)
        }
    }

    /// Where two long texts part, with a little of each from there.
    static func firstDifference(_ a: String, _ b: String) -> String {
        let (a, b) = (Array(a), Array(b))
        let at = zip(a, b).prefix { $0 == $1 }.count
        let from = max(0, at - 40)
        return "at \(at): \(String(a[from..<min(a.count, at + 60)])) | \(String(b[from..<min(b.count, at + 60)]))"
    }

    @Test("the defaults keep the fingerprint outboxes were saved under")
    func defaultsKeepTheirFingerprint() {
        // Recorded from the reflecting fingerprint before it was written out field by field: a
        // changed fingerprint would make every shop's next run judge every customer again.
        #expect(ReactorConfiguration().fingerprint == "491ab6f2e954eeba")
    }

    @Test("a case's reflected name is its public name in camel case")
    func caseNames() {
        for kind in CommandKind.allCases {
            #expect(CanonicalText.kind(kind) == String(reflecting: kind))
        }
        for channel in Channel.allCases {
            #expect(CanonicalText.channel(channel) == String(reflecting: channel))
        }
        for offer in ReactorConfiguration.OfferType.allCases {
            #expect(CanonicalText.enumCase("ReactorConfiguration.OfferType", offer.rawValue) == String(reflecting: offer))
        }
    }
}
