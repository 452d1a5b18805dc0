import AftersaleCore

/// Why a configuration file was refused: the key path and why, e.g.
/// `review_request.window_days: expected [min, max] with 0 <= min <= max`.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Dotted key path; `json` for a syntax error, empty for the whole document.
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

extension ReactorConfiguration {
    /// Reads a configuration from JSON text; every key is optional and defaults as documented.
    ///
    /// Unknown keys and ill-typed values are errors naming the key path.
    public static func load(json text: String) throws(ConfigurationError) -> ReactorConfiguration {
        let value: JSONValue
        do { value = try JSONParser.parse(text) } catch { throw ConfigurationError(path: "json", reason: error.description) }
        guard let object = value.objectValue else { throw ConfigurationError(path: "", reason: "expected a JSON object") }
        var config = ReactorConfiguration()
        var root = Section(object, path: "")
        // The same file configures the service (`aftersale serve`) and the delivery of commands as
        // webhooks, which read their sections themselves.
        _ = root.take("serve")
        _ = root.take("webhooks")

        if let v = root.take("disabled") {
            config.disabled = Set(try Section.list(v, path: "disabled") { item, path throws(ConfigurationError) in
                guard let name = item.stringValue, let kind = CommandKind(rawValue: name) else {
                    throw ConfigurationError(path: path, reason: "expected a command kind (\(CommandKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return kind
            })
        }
        if var s = try root.section("contact") {
            if let v = s.take("channels") {
                let channels = try Section.list(v, path: s.path("channels")) { item, path throws(ConfigurationError) in
                    try Section.channel(item, path: path)
                }
                guard !channels.isEmpty, Set(channels).count == channels.count else {
                    throw ConfigurationError(path: s.path("channels"), reason: "expected a non-empty list of distinct channels")
                }
                config.contact.channels = channels
            }
            if let v = s.take("quiet_hours") {
                if v == .null {
                    config.contact.quietHours = nil
                } else {
                    let path = s.path("quiet_hours")
                    guard let pair = v.arrayValue, pair.count == 2, let a = pair[0].stringValue.flatMap(Section.minutes),
                          let b = pair[1].stringValue.flatMap(Section.minutes) else {
                        throw ConfigurationError(path: path, reason: "expected [\"HH:MM\", \"HH:MM\"] (start, end) or null")
                    }
                    config.contact.quietHours = QuietHours(start: a, end: b)
                }
            }
            if let v = s.take("gap_hours") {
                var gaps = s.path("gap_hours")
                guard let o = v.objectValue else { throw ConfigurationError(path: gaps, reason: "expected an object of channel -> hours") }
                for member in o.members {
                    gaps = s.path("gap_hours.\(member.key)")
                    let channel = try Section.channel(.string(member.key), path: gaps)
                    config.contact.gapHours[channel] = try Section.count(member.value, path: gaps)
                }
            }
            if let v = s.take("max_marketing_per_7_days") {
                config.contact.maxMarketingPer7Days = try Section.count(v, path: s.path("max_marketing_per_7_days"))
            }
            if let v = s.take("default_time_zone") {
                guard let name = v.stringValue, !name.isEmpty else {
                    throw ConfigurationError(path: s.path("default_time_zone"), reason: "expected an IANA time zone name")
                }
                config.contact.defaultTimeZone = name
            }
            try s.finish()
        }
        if var s = try root.section("order_confirmation") {
            if let v = s.take("delivery_days") { config.orderConfirmation.deliveryDays = try Section.window(v, path: s.path("delivery_days")) }
            if let v = s.take("contact") {
                guard let text = v.stringValue else { throw ConfigurationError(path: s.path("contact"), reason: "expected a string") }
                config.orderConfirmation.contact = text
            }
            try s.finish()
        }
        if var s = try root.section("delivery") {
            if let v = s.take("late_after_hours") { config.delivery.lateAfterHours = try Section.count(v, path: s.path("late_after_hours")) }
            try s.finish()
        }
        if var s = try root.section("review_request") {
            if let v = s.take("window_days") { config.reviewRequest.windowDays = try Section.window(v, path: s.path("window_days")) }
            if let v = s.take("transit_days") { config.reviewRequest.transitDays = try Section.count(v, path: s.path("transit_days")) }
            if let v = s.take("per_product_days") { config.reviewRequest.perProductDays = try Section.count(v, path: s.path("per_product_days")) }
            try s.finish()
        }
        if var s = try root.section("review_reply") {
            if let v = s.take("due_hours") { config.reviewReply.dueHours = try Section.count(v, path: s.path("due_hours")) }
            if var c = try s.section("apology_coupon") {
                if let v = c.take("base") { config.reviewReply.apologyCoupon.base = try Section.money(v, path: c.path("base")) }
                if let v = c.take("max") { config.reviewReply.apologyCoupon.max = try Section.money(v, path: c.path("max")) }
                if let v = c.take("percent_of_value") {
                    guard let p = v.doubleValue, p >= 0, p <= 100 else {
                        throw ConfigurationError(path: c.path("percent_of_value"), reason: "expected a number from 0 to 100")
                    }
                    config.reviewReply.apologyCoupon.basisPointsOfValue = Int((p * 100).rounded())
                }
                try c.finish()
            }
            try s.finish()
        }
        if var s = try root.section("unboxing") {
            if let v = s.take("invite_after_days") { config.unboxing.inviteAfterDays = try Section.count(v, path: s.path("invite_after_days")) }
            if let v = s.take("incentive") { config.unboxing.incentive = try Section.money(v, path: s.path("incentive")) }
            if let v = s.take("reward") { config.unboxing.reward = try Section.money(v, path: s.path("reward")) }
            try s.finish()
        }
        if var s = try root.section("returns") {
            if let v = s.take("satisfaction_check_after_days") {
                config.returns.satisfactionCheckAfterDays = try Section.count(v, path: s.path("satisfaction_check_after_days"))
            }
            try s.finish()
        }
        if var s = try root.section("replenishment") {
            if let v = s.take("cadence_days") {
                let path = s.path("cadence_days")
                guard let o = v.objectValue else { throw ConfigurationError(path: path, reason: "expected an object of category -> [min, max] days") }
                var cadences: [String: DayWindow] = [:]
                for member in o.members { cadences[member.key] = try Section.window(member.value, path: "\(path).\(member.key)") }
                config.replenishment.cadenceDays = cadences
            }
            try s.finish()
        }
        if var s = try root.section("care_tips") {
            if let v = s.take("categories") {
                config.careTips.categories = try Section.list(v, path: s.path("categories")) { item, path throws(ConfigurationError) in
                    guard let name = item.stringValue, !name.isEmpty else { throw ConfigurationError(path: path, reason: "expected a category name") }
                    return name
                }
            }
            if let v = s.take("after_days") { config.careTips.afterDays = try Section.count(v, path: s.path("after_days")) }
            try s.finish()
        }
        if var s = try root.section("cross_sell") {
            if let v = s.take("after_days") { config.crossSell.afterDays = try Section.count(v, path: s.path("after_days")) }
            if let v = s.take("max_items") { config.crossSell.maxItems = try Section.count(v, path: s.path("max_items")) }
            if let v = s.take("min_count") { config.crossSell.minCount = try Section.count(v, path: s.path("min_count")) }
            try s.finish()
        }
        for (key, keyPath) in [("birthday", \ReactorConfiguration.birthday), ("anniversary", \ReactorConfiguration.anniversary)] {
            guard var s = try root.section(key) else { continue }
            if let v = s.take("hour") {
                guard let h = v.intValue, (0...23).contains(h) else { throw ConfigurationError(path: s.path("hour"), reason: "expected an integer hour from 0 to 23") }
                config[keyPath: keyPath].hour = h
            }
            if let v = s.take("offer") {
                guard let name = v.stringValue, let offer = OfferType(rawValue: name) else {
                    throw ConfigurationError(path: s.path("offer"), reason: "expected \"discount\" or \"free_shipping\"")
                }
                config[keyPath: keyPath].offer = offer
            }
            if let v = s.take("coupon") { config[keyPath: keyPath].coupon = try Section.money(v, path: s.path("coupon")) }
            try s.finish()
        }
        if var s = try root.section("loyalty") {
            if let v = s.take("milestones") {
                config.loyalty.milestones = try Section.list(v, path: s.path("milestones")) { item, path throws(ConfigurationError) in
                    guard let n = item.intValue, n >= 1 else { throw ConfigurationError(path: path, reason: "expected an order count >= 1") }
                    return n
                }.sorted()
            }
            if let v = s.take("after_days") { config.loyalty.afterDays = try Section.count(v, path: s.path("after_days")) }
            if let v = s.take("milestone_coupon") { config.loyalty.milestoneCoupon = try Section.money(v, path: s.path("milestone_coupon")) }
            if let v = s.take("vip_min_predicted_clv") { config.loyalty.vipMinPredictedCLV = try Section.money(v, path: s.path("vip_min_predicted_clv")) }
            try s.finish()
        }
        if var s = try root.section("win_back") {
            if let v = s.take("p_alive_below") { config.winBack.pAliveBelow = try Section.probability(v, path: s.path("p_alive_below")) }
            if let v = s.take("overdue_grace_days") { config.winBack.overdueGraceDays = try Section.count(v, path: s.path("overdue_grace_days")) }
            if let v = s.take("default_gap_days") { config.winBack.defaultGapDays = try Section.count(v, path: s.path("default_gap_days")) }
            if let v = s.take("open_order_days") { config.winBack.openOrderDays = try Section.count(v, path: s.path("open_order_days")) }
            if let v = s.take("min_value") { config.winBack.minValue = try Section.money(v, path: s.path("min_value")) }
            if let v = s.take("coupon") { config.winBack.coupon = try Section.money(v, path: s.path("coupon")) }
            try s.finish()
        }
        if var s = try root.section("arbitration") {
            if let v = s.take("propensity") {
                let path = s.path("propensity")
                guard let o = v.objectValue else { throw ConfigurationError(path: path, reason: "expected an object of command kind -> probability") }
                for member in o.members {
                    let memberPath = "\(path).\(member.key)"
                    guard let kind = CommandKind(rawValue: member.key) else { throw ConfigurationError(path: memberPath, reason: "unknown command kind") }
                    config.arbitration.propensity[kind] = try Section.probability(member.value, path: memberPath)
                }
            }
            try s.finish()
        }
        if var s = try root.section("clock") {
            if let v = s.take("catch_up_days") { config.clock.catchUpDays = try Section.count(v, path: s.path("catch_up_days")) }
            try s.finish()
        }
        try root.finish()
        return config
    }
}

/// One JSON object of the configuration, read key by key; what is left over is unknown.
private struct Section {
    var object: JSONObject
    var prefix: String
    var taken: Set<String> = []

    init(_ object: JSONObject, path: String) {
        self.object = object
        self.prefix = path
    }

    func path(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    mutating func take(_ key: String) -> JSONValue? {
        taken.insert(key)
        return object[key]
    }

    mutating func section(_ key: String) throws(ConfigurationError) -> Section? {
        guard let value = take(key) else { return nil }
        guard let o = value.objectValue else { throw ConfigurationError(path: path(key), reason: "expected an object, got \(value.kindName)") }
        return Section(o, path: path(key))
    }

    func finish() throws(ConfigurationError) {
        for key in object.keys where !taken.contains(key) { throw ConfigurationError(path: path(key), reason: "unknown key") }
    }

    static func count(_ v: JSONValue, path: String) throws(ConfigurationError) -> Int {
        guard let n = v.intValue, n >= 0 else { throw ConfigurationError(path: path, reason: "expected an integer >= 0") }
        return n
    }

    static func probability(_ v: JSONValue, path: String) throws(ConfigurationError) -> Double {
        guard let p = v.doubleValue, p >= 0, p <= 1 else { throw ConfigurationError(path: path, reason: "expected a number from 0 to 1") }
        return p
    }

    static func window(_ v: JSONValue, path: String) throws(ConfigurationError) -> ReactorConfiguration.DayWindow {
        guard let pair = v.arrayValue, pair.count == 2, let a = pair[0].intValue, let b = pair[1].intValue, a >= 0, a <= b else {
            throw ConfigurationError(path: path, reason: "expected [min, max] with 0 <= min <= max")
        }
        return .init(a, b)
    }

    static func channel(_ v: JSONValue, path: String) throws(ConfigurationError) -> Channel {
        guard let name = v.stringValue, let channel = Channel(rawValue: name) else {
            throw ConfigurationError(path: path, reason: "expected a channel (email, sms, push)")
        }
        return channel
    }

    static func list<T>(_ v: JSONValue, path: String, _ item: (JSONValue, String) throws(ConfigurationError) -> T) throws(ConfigurationError) -> [T] {
        guard let items = v.arrayValue else { throw ConfigurationError(path: path, reason: "expected an array, got \(v.kindName)") }
        var out: [T] = []
        for (i, element) in items.enumerated() { out.append(try item(element, "\(path)[\(i)]")) }
        return out
    }

    /// `{"EUR": "5.00", "JPY": "800"}`: exact amounts, the string form recommended.
    static func money(_ v: JSONValue, path: String) throws(ConfigurationError) -> MoneyTable {
        guard let o = v.objectValue else { throw ConfigurationError(path: path, reason: "expected an object of currency code -> amount") }
        var table: [String: Int64] = [:]
        for member in o.members {
            let memberPath = "\(path).\(member.key)"
            guard let currency = Currency(code: member.key) else { throw ConfigurationError(path: memberPath, reason: "unknown currency code") }
            let text: String
            switch member.value {
            case .string(let t), .number(let t): text = t
            default: throw ConfigurationError(path: memberPath, reason: "expected an amount such as \"5.00\"")
            }
            do {
                table[member.key] = try Money.parseMinorUnits(text, digits: currency.minorUnitDigits)
            } catch {
                let reason = switch error {
                case .notDecimal: "not a decimal amount"
                case .negative: "must not be negative"
                case .tooManyDecimalPlaces(let n): "too many decimal places (\(member.key) has \(n))"
                case .tooLarge: "too large"
                }
                throw ConfigurationError(path: memberPath, reason: reason)
            }
        }
        return MoneyTable(minorUnits: table)
    }

    /// `"21:00"` -> 1260.
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
              (0...23).contains(h), (0...59).contains(m) else { return nil }
        return h * 60 + m
    }
}
