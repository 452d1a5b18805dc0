public import AftersaleCore
internal import Synchronization

/// Every window, cadence, cap, threshold and coupon value the reactor uses, with documented defaults.
///
/// `README.md` in this folder lists every setting; `ReactorConfiguration.load(json:)` reads the
/// same keys from a JSON file, each optional.
public struct ReactorConfiguration: Sendable, Equatable {
    /// Kinds never scheduled (`disabled`).
    public var disabled: Set<CommandKind> = []
    public var contact = Contact()
    public var orderConfirmation = OrderConfirmation()
    public var delivery = Delivery()
    public var reviewRequest = ReviewRequest()
    public var reviewReply = ReviewReply()
    public var unboxing = Unboxing()
    public var returns = Returns()
    public var replenishment = Replenishment()
    public var careTips = CareTips()
    public var crossSell = CrossSell()
    public var birthday = Occasion()
    public var anniversary = Occasion()
    public var loyalty = Loyalty()
    public var winBack = WinBack()
    public var arbitration = Arbitration()
    public var clock = Clock()

    public init() {}

    /// Channels, caps and quiet hours (`contact`).
    public struct Contact: Sendable, Equatable {
        /// The order channels are tried in when the preferred one is not consented (`channels`).
        public var channels: [Channel] = [.email, .sms, .push]
        /// Local times during which no marketing or service message goes out (`quiet_hours`); nil: none.
        public var quietHours: QuietHours? = QuietHours(start: 21 * 60, end: 8 * 60)
        /// Minimum hours between two marketing messages on one channel (`gap_hours`), after Klaviyo's smart sending.
        public var gapHours: [Channel: Int] = [.email: 16, .sms: 24, .push: 24]
        /// At most this many marketing messages in any 7 days, all channels (`max_marketing_per_7_days`).
        public var maxMarketingPer7Days = 3
        /// The IANA zone used when the customer gave none (`default_time_zone`).
        public var defaultTimeZone = "UTC"
        public init() {}
    }

    /// A local-time window in minutes after midnight; `start > end` wraps past midnight.
    public struct QuietHours: Sendable, Equatable {
        public var start: Int
        public var end: Int
        public init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }

        public func contains(minuteOfDay m: Int) -> Bool {
            if start == end { return false }
            return start < end ? (m >= start && m < end) : (m >= start || m < end)
        }

        /// `21:00-08:00`.
        public var description: String { "\(QuietHours.clock(start))-\(QuietHours.clock(end))" }

        /// `HH:MM` for a minute of the day (0..<1440). Written digit by digit: the contact policy
        /// writes two of these and the quiet hours into the reason of every command it moves.
        static func clock(_ minutes: Int) -> String {
            let h = minutes / 60, m = minutes % 60
            guard (0..<100).contains(h), (0..<60).contains(m) else {
                return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
            }
            let zero = UInt8(ascii: "0")
            return String(unsafeUninitializedCapacity: 5) { text in
                (text[0], text[1], text[2], text[3], text[4]) = (zero + UInt8(h / 10), zero + UInt8(h % 10), UInt8(ascii: ":"),
                                                                 zero + UInt8(m / 10), zero + UInt8(m % 10))
                return 5
            }
        }
    }

    /// A range of whole days, `min <= max`.
    public struct DayWindow: Sendable, Equatable {
        public var min: Int
        public var max: Int
        public init(_ min: Int, _ max: Int) {
            self.min = min
            self.max = max
        }
    }

    /// `order_confirmation`.
    public struct OrderConfirmation: Sendable, Equatable {
        /// The promised delivery time frame repeated in the confirmation (`delivery_days`).
        public var deliveryDays = DayWindow(2, 5)
        /// How to reach the shop, copied into the payload when not empty (`contact`).
        public var contact = ""
        public init() {}
    }

    /// `delivery`.
    public struct Delivery: Sendable, Equatable {
        /// Hours past the estimated delivery without a delivery event before the late-delivery apology (`late_after_hours`).
        public var lateAfterHours = 24
        public init() {}
    }

    /// `review_request`.
    public struct ReviewRequest: Sendable, Equatable {
        /// Days after delivery the request may go out; it is due at the start (`window_days`).
        public var windowDays = DayWindow(7, 15)
        /// Typical days from dispatch to delivery, for orders that never report a delivery (`transit_days`).
        public var transitDays = 4
        /// A product is asked about at most once in this many days (`per_product_days`), after Yotpo.
        public var perProductDays = 365
        public init() {}
    }

    /// `review_reply`.
    public struct ReviewReply: Sendable, Equatable {
        /// Hours after the review the reply is due (`due_hours`).
        public var dueHours = 0
        /// The remedy for a rating <= 2 (`apology_coupon`).
        public var apologyCoupon = ScaledCoupon()
        public init() {}
    }

    /// A coupon of `base + percent_of_value % x customer value`, at most `max`, per currency.
    public struct ScaledCoupon: Sendable, Equatable {
        public var base: MoneyTable = .major(["EUR": 5, "USD": 5, "GBP": 5, "CHF": 5], jpy: 800)
        /// Percent of the customer's value added to the base (`percent_of_value`), in hundredths of a percent.
        public var basisPointsOfValue = 500
        public var max: MoneyTable = .major(["EUR": 50, "USD": 50, "GBP": 40, "CHF": 50], jpy: 8000)
        public init() {}
    }

    /// `unboxing`.
    public struct Unboxing: Sendable, Equatable {
        /// Days after delivery the invitation to share is due (`invite_after_days`).
        public var inviteAfterDays = 2
        /// The incentive promised for sharing (`incentive`).
        public var incentive: MoneyTable = .major(["EUR": 5, "USD": 5, "GBP": 5, "CHF": 5], jpy: 800)
        /// The reward for a shared unboxing (`reward`).
        public var reward: MoneyTable = .major(["EUR": 5, "USD": 5, "GBP": 5, "CHF": 5], jpy: 800)
        public init() {}
    }

    /// `returns`.
    public struct Returns: Sendable, Equatable {
        /// Days after the refund the satisfaction check is due (`satisfaction_check_after_days`).
        public var satisfactionCheckAfterDays = 3
        public init() {}
    }

    /// `replenishment`.
    public struct Replenishment: Sendable, Equatable {
        /// Category -> days after the purchase supply runs out; the reminder is due at the start (`cadence_days`).
        public var cadenceDays: [String: DayWindow] = ["cosmetics": DayWindow(56, 84), "industrial": DayWindow(365, 426)]
        public init() {}
    }

    /// `care_tips`.
    public struct CareTips: Sendable, Equatable {
        /// Durable categories that get care and usage content (`categories`).
        public var categories: [String] = ["electronics", "fitness", "footwear", "kitchen"]
        /// Days after delivery (`after_days`).
        public var afterDays = 3
        public init() {}
    }

    /// `cross_sell`.
    public struct CrossSell: Sendable, Equatable {
        /// Days after delivery (`after_days`).
        public var afterDays = 10
        /// At most this many recommendations (`max_items`).
        public var maxItems = 3
        /// A pair bought by fewer customers than this is noise (`min_count`).
        public var minCount = 2
        public init() {}
    }

    /// `birthday` and `anniversary`.
    public struct Occasion: Sendable, Equatable {
        /// Local hour the offer is due (`hour`).
        public var hour = 9
        /// What is offered (`offer`).
        public var offer = OfferType.discount
        /// The discount, per currency (`coupon`); a currency without an amount gets free shipping.
        public var coupon: MoneyTable = .major(["EUR": 10, "USD": 10, "GBP": 10, "CHF": 10], jpy: 1500)
        public init() {}
    }

    /// A greeting's offer.
    public enum OfferType: String, Sendable, Equatable, CaseIterable {
        case discount
        case freeShipping = "free_shipping"
    }

    /// `loyalty`.
    public struct Loyalty: Sendable, Equatable {
        /// Order counts that earn a reward (`milestones`).
        public var milestones: [Int] = [3, 5, 10]
        /// Days after the milestone order the reward is due (`after_days`).
        public var afterDays = 1
        /// The milestone reward (`milestone_coupon`).
        public var milestoneCoupon: MoneyTable = .major(["EUR": 10, "USD": 10, "GBP": 10, "CHF": 10], jpy: 1500)
        /// Predicted 12-month CLV from which a customer is treated as VIP, once a year (`vip_min_predicted_clv`).
        public var vipMinPredictedCLV: MoneyTable = .major(["EUR": 500, "USD": 500, "GBP": 450, "CHF": 500], jpy: 75000)
        public init() {}
    }

    /// `win_back`.
    public struct WinBack: Sendable, Equatable {
        /// Fires when the predicted probability the customer is still active is below this (`p_alive_below`).
        public var pAliveBelow = 0.4
        /// ... or when the expected next order is this many days overdue (`overdue_grace_days`).
        public var overdueGraceDays = 14
        /// Expected gap after a single order when no model predicts one (`default_gap_days`).
        public var defaultGapDays = 90
        /// An order not delivered, cancelled or returned counts as open for this many days (`open_order_days`).
        public var openOrderDays = 30
        /// Only customers whose predicted CLV or historical net value reaches this (`min_value`).
        public var minValue: MoneyTable = .major(["EUR": 100, "USD": 100, "GBP": 90, "CHF": 100], jpy: 15000)
        /// The come-back offer (`coupon`).
        public var coupon: MoneyTable = .major(["EUR": 10, "USD": 10, "GBP": 10, "CHF": 10], jpy: 1500)
        public init() {}
    }

    /// `arbitration`: expected value = propensity x value.
    public struct Arbitration: Sendable, Equatable {
        /// Kind -> the share of customers expected to act on it (`propensity`).
        public var propensity: [CommandKind: Double] = [
            .reviewRequest: 0.10, .reviewReply: 0.50, .unboxingInvite: 0.05, .unboxingReward: 0.30,
            .returnSatisfactionCheck: 0.20, .replenishmentReminder: 0.25, .careTips: 0.04, .crossSell: 0.08,
            .birthdayOffer: 0.15, .anniversaryOffer: 0.10, .loyaltyReward: 0.20, .winBack: 0.06,
        ]
        public init() {}
    }

    /// `clock`.
    public struct Clock: Sendable, Equatable {
        /// A time-based moment older than this many days before the clock's end is not sent late (`catch_up_days`).
        public var catchUpDays = 7
        public init() {}
    }
}

/// Exact amounts per currency: a coupon or threshold in each currency the shop sells in.
public struct MoneyTable: Sendable, Equatable {
    /// Currency code -> minor units.
    public var minorUnits: [String: Int64]

    public init(minorUnits: [String: Int64]) { self.minorUnits = minorUnits }

    /// The amount in `code`, nil when the table has none.
    public func amount(in code: String) -> Money? {
        guard let units = minorUnits[code], let currency = Currency(code: code) else { return nil }
        return Money(minorUnits: units, currency: currency)
    }

    /// Whole major units per code, plus a JPY amount.
    static func major(_ amounts: [String: Int64], jpy: Int64) -> MoneyTable {
        var table = amounts.mapValues { $0 * 100 }
        table["JPY"] = jpy
        return MoneyTable(minorUnits: table)
    }
}

extension ReactorConfiguration {
    /// A stable digest of every setting (the same in every process, whatever the order of sets and
    /// maps): storage compares it with the one a run was saved under, since new settings can move
    /// the moments when the clock must judge a customer.
    public var fingerprint: String {
        // Storage asks at every step of the live engine; reflecting over every setting costs more
        // than comparing them with the last configuration asked about.
        if let known = ReactorConfiguration.lastFingerprint.withLock({ last in last.flatMap { $0.configuration == self ? $0.fingerprint : nil } }) {
            return known
        }
        let computed = computedFingerprint
        ReactorConfiguration.lastFingerprint.withLock { $0 = (self, computed) }
        return computed
    }

    private static let lastFingerprint = Mutex<(configuration: ReactorConfiguration, fingerprint: String)?>(nil)

    private var computedFingerprint: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonicalText.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
