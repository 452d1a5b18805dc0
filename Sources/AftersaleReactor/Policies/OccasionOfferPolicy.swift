public import AftersaleCore

/// Play 10: a birthday offer and an account-anniversary offer (discount or free shipping), once a year each.
///
/// Both are moments of the clock in the customer's time zone (at the configured local hour). They are
/// scheduled `lead` ahead (longer than the engine's longest tick), due exactly at the moment, so the
/// greeting is pending in the outbox before its day whenever the clock ticks; the id holds the year.
/// A 29 February birthday is celebrated on 28 February in common years.
public struct OccasionOfferPolicy: Policy {
    public init() {}

    public func advance(state: CustomerState, from: Timestamp, to: Timestamp, outbox: [Command], context: ReactorContext) -> [Command] {
        guard to > from else { return [] }
        let clock = LocalClock(state, context)
        let lead = OccasionOfferPolicy.leadDays
        let years = clock.localDate(from.adding(wholeDays: lead)).year...clock.localDate(to.adding(wholeDays: lead)).year
        let earliest = to.adding(wholeDays: -context.configuration.clock.catchUpDays)
        // Scheduled when the window reaches `lead` days before the moment.
        func due(_ moment: Timestamp) -> Bool {
            let announced = moment.adding(wholeDays: -lead)
            return announced > from && announced <= to && moment >= earliest
        }
        var out: [Command] = []
        if let birthday = context.birthday(of: state) {
            let config = context.configuration.birthday
            for year in years {
                let moment = OccasionOfferPolicy.moment(year, birthday.month, birthday.day, at: config, clock)
                guard due(moment) else { continue }
                let (offer, words) = OccasionOfferPolicy.offer(config, state)
                let payload = JSONObject(["occasion": .string("birthday"), "year": .integer(year), "offer": offer])
                out.append(.proposal(.birthdayOffer, trigger: state.customer, subkey: String(year), customer: state.customer, due: moment,
                                     payload: payload,
                                     // Neither the date nor the age: the outbox keeps no personal data.
                                     reason: "birthday in \(clock.zone), due at "
                                        + "\(moment.rfc3339WithOffset); \(words), once in \(year)",
                                     context: context))
            }
        }
        if let registered = state.registeredAt {
            let config = context.configuration.anniversary
            let since = clock.localDate(registered)
            for year in years where year > since.year {
                let moment = OccasionOfferPolicy.moment(year, since.month, since.day, at: config, clock)
                guard due(moment) else { continue }
                let (offer, words) = OccasionOfferPolicy.offer(config, state)
                let payload = JSONObject(["occasion": .string("account_anniversary"), "year": .integer(year),
                                          "years": .integer(year - since.year), "offer": offer])
                out.append(.proposal(.anniversaryOffer, trigger: state.customer, subkey: String(year), customer: state.customer, due: moment,
                                     payload: payload,
                                     reason: "\(year - since.year) year\(year - since.year == 1 ? "" : "s") since the account opened on \(since) "
                                        + "(\(clock.zone)); \(words), once in \(year)",
                                     context: context))
            }
        }
        return out.map { var c = $0; c.trigger = "clock"; return c }
    }

    /// The first announcement (`leadDays` before a birthday or an anniversary) still ahead of `clock`
    /// whose command the outbox does not hold. Looks four years ahead; beyond that it answers a
    /// year on, to be asked again.
    public func nextWake(state: CustomerState, after clock: Timestamp, outbox: [Command], context: ReactorContext,
                         forecasts: ForecastLookup?) -> Timestamp? {
        guard state.birthday != nil || state.sealedBirthday != nil || state.registeredAt != nil else { return nil }
        let local = LocalClock(state, context)
        let lead = OccasionOfferPolicy.leadDays
        let first = local.localDate(clock.adding(wholeDays: lead)).year
        let since = state.registeredAt.map { local.localDate($0) }
        let birthday = context.birthday(of: state)
        for year in first..<(first + 4) {
            var wake: Timestamp?
            func consider(_ kind: CommandKind, _ moment: Timestamp) {
                let announced = moment.adding(wholeDays: -lead)
                guard announced > clock, wake.map({ announced < $0 }) ?? true else { return }
                // This play's command of that kind and year, found without making its id (`kind:customer:year`):
                // only this play makes the kind, and its payload holds the year.
                if !outbox.contains(where: { $0.kind == kind && $0.payload["year"]?.intValue == year }) { wake = announced }
            }
            if let birthday {
                consider(.birthdayOffer, OccasionOfferPolicy.moment(year, birthday.month, birthday.day,
                                                                    at: context.configuration.birthday, local))
            }
            if let since, year > since.year {
                consider(.anniversaryOffer, OccasionOfferPolicy.moment(year, since.month, since.day,
                                                                       at: context.configuration.anniversary, local))
            }
            if let wake { return wake }
        }
        return clock.adding(wholeDays: 365)
    }

    /// How far ahead an occasion is scheduled: more than the engine's weekly tick.
    public static let leadDays = 8

    static func date(_ year: Int, _ month: Int, _ day: Int) -> CivilDate {
        CivilDate(year: year, month: month, day: min(day, CivilDate.daysIn(month: month, year: year)))
    }

    /// The occasion's moment in `year`: the configured local hour of that month and day.
    static func moment(_ year: Int, _ month: Int, _ day: Int, at config: ReactorConfiguration.Occasion, _ clock: LocalClock) -> Timestamp {
        clock.instant(date(year, month, day), minute: config.hour * 60)
    }

    /// The greeting's offer as JSON and in words: the configured discount, or free shipping.
    static func offer(_ config: ReactorConfiguration.Occasion, _ state: CustomerState) -> (JSONValue, String) {
        if config.offer == .discount, let currency = state.primaryCurrency, let coupon = config.coupon.amount(in: currency.code) {
            return (.object(JSONObject(["type": .string("discount"), "coupon": moneyJSON(coupon)])), "discount \(coupon)")
        }
        let why = config.offer == .discount ? " (no discount configured for the customer's currency)" : ""
        return (.object(JSONObject(["type": .string("free_shipping")])), "free shipping\(why)")
    }
}

func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
