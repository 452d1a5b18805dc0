/// The configuration as text, every setting named, written field by field.
///
/// The fingerprint hashes this text. It is the text reflection (`Mirror`) gives of the settings, as
/// the fingerprint was first computed (`ConfigurationTextTests` holds the two equal, so a setting
/// added to the configuration and not here fails it), written without reflection: each type the runtime is first asked to reflect or cast
/// costs a search of every protocol conformance in the executable, and the settings' few dozen
/// types made that search a fifth of a next-day run (`tools/results/million-customers.md`).
extension ReactorConfiguration {
    var canonicalText: String {
        CanonicalText.structure("ReactorConfiguration", [
            ("disabled", CanonicalText.set(disabled.map(CanonicalText.kind))),
            ("contact", contact.canonicalText),
            ("orderConfirmation", CanonicalText.structure("OrderConfirmation", [
                ("deliveryDays", orderConfirmation.deliveryDays.canonicalText),
                ("contact", CanonicalText.string(orderConfirmation.contact)),
            ])),
            ("delivery", CanonicalText.structure("Delivery", [("lateAfterHours", "\(delivery.lateAfterHours)")])),
            ("reviewRequest", CanonicalText.structure("ReviewRequest", [
                ("windowDays", reviewRequest.windowDays.canonicalText),
                ("transitDays", "\(reviewRequest.transitDays)"),
                ("perProductDays", "\(reviewRequest.perProductDays)"),
            ])),
            ("reviewReply", CanonicalText.structure("ReviewReply", [
                ("dueHours", "\(reviewReply.dueHours)"),
                ("apologyCoupon", CanonicalText.structure("ScaledCoupon", [
                    ("base", reviewReply.apologyCoupon.base.canonicalText),
                    ("basisPointsOfValue", "\(reviewReply.apologyCoupon.basisPointsOfValue)"),
                    ("max", reviewReply.apologyCoupon.max.canonicalText),
                ])),
            ])),
            ("unboxing", CanonicalText.structure("Unboxing", [
                ("inviteAfterDays", "\(unboxing.inviteAfterDays)"),
                ("incentive", unboxing.incentive.canonicalText),
                ("reward", unboxing.reward.canonicalText),
            ])),
            ("returns", CanonicalText.structure("Returns", [("satisfactionCheckAfterDays", "\(returns.satisfactionCheckAfterDays)")])),
            ("replenishment", CanonicalText.structure("Replenishment", [
                ("cadenceDays", CanonicalText.map(replenishment.cadenceDays.map { (CanonicalText.string($0.key), $0.value.canonicalText) },
                                                  key: "String", value: "DayWindow")),
            ])),
            ("careTips", CanonicalText.structure("CareTips", [
                ("categories", CanonicalText.array(careTips.categories.map(CanonicalText.string), of: "String")),
                ("afterDays", "\(careTips.afterDays)"),
            ])),
            ("crossSell", CanonicalText.structure("CrossSell", [
                ("afterDays", "\(crossSell.afterDays)"),
                ("maxItems", "\(crossSell.maxItems)"),
                ("minCount", "\(crossSell.minCount)"),
            ])),
            ("birthday", birthday.canonicalText),
            ("anniversary", anniversary.canonicalText),
            ("loyalty", CanonicalText.structure("Loyalty", [
                ("milestones", CanonicalText.array(loyalty.milestones.map { "\($0)" }, of: "Int")),
                ("afterDays", "\(loyalty.afterDays)"),
                ("milestoneCoupon", loyalty.milestoneCoupon.canonicalText),
                ("vipMinPredictedCLV", loyalty.vipMinPredictedCLV.canonicalText),
            ])),
            ("winBack", CanonicalText.structure("WinBack", [
                ("pAliveBelow", winBack.pAliveBelow.description),
                ("overdueGraceDays", "\(winBack.overdueGraceDays)"),
                ("defaultGapDays", "\(winBack.defaultGapDays)"),
                ("openOrderDays", "\(winBack.openOrderDays)"),
                ("minValue", winBack.minValue.canonicalText),
                ("coupon", winBack.coupon.canonicalText),
            ])),
            ("arbitration", CanonicalText.structure("Arbitration", [
                ("propensity", CanonicalText.map(arbitration.propensity.map { (CanonicalText.kind($0.key), $0.value.description) },
                                                 key: "CommandKind", value: "Double")),
            ])),
            ("clock", CanonicalText.structure("Clock", [("catchUpDays", "\(clock.catchUpDays)")])),
        ])
    }
}

extension ReactorConfiguration.Contact {
    var canonicalText: String {
        CanonicalText.structure("Contact", [
            ("channels", CanonicalText.array(channels.map(CanonicalText.channel), of: "Channel")),
            ("quietHours", quietHours.map {
                "Optional<QuietHours>(some:" + CanonicalText.structure("QuietHours", [("start", "\($0.start)"), ("end", "\($0.end)")]) + ")"
            } ?? "nil"),
            ("gapHours", CanonicalText.map(gapHours.map { (CanonicalText.channel($0.key), "\($0.value)") }, key: "Channel", value: "Int")),
            ("maxMarketingPer7Days", "\(maxMarketingPer7Days)"),
            ("defaultTimeZone", CanonicalText.string(defaultTimeZone)),
        ])
    }
}

extension ReactorConfiguration.Occasion {
    var canonicalText: String {
        CanonicalText.structure("Occasion", [
            ("hour", "\(hour)"),
            ("offer", CanonicalText.enumCase("ReactorConfiguration.OfferType", offer.rawValue)),
            ("coupon", coupon.canonicalText),
        ])
    }
}

extension ReactorConfiguration.DayWindow {
    var canonicalText: String { CanonicalText.structure("DayWindow", [("min", "\(min)"), ("max", "\(max)")]) }
}

extension MoneyTable {
    var canonicalText: String {
        CanonicalText.structure("MoneyTable", [
            ("minorUnits", CanonicalText.map(minorUnits.map { (CanonicalText.string($0.key), "\($0.value)") }, key: "String", value: "Int64")),
        ])
    }
}

/// The shapes reflection gives each kind of value: a struct's fields by label, sets and maps sorted.
enum CanonicalText {
    static func structure(_ name: String, _ fields: [(String, String)]) -> String {
        name + "(" + fields.map { $0.0 + ":" + $0.1 }.joined(separator: ",") + ")"
    }

    static func string(_ s: String) -> String { s.debugDescription }

    /// Sets and maps: their members in sorted order.
    static func set(_ members: [String]) -> String { "[" + members.sorted().joined(separator: ",") + "]" }

    static func map(_ pairs: [(String, String)], key: String, value: String) -> String {
        set(pairs.map { structure("(key: \(key), value: \(value))", [("key", $0.0), ("value", $0.1)]) })
    }

    static func array(_ elements: [String], of element: String) -> String {
        elements.isEmpty ? "[]" : "Array<\(element)>(" + elements.map { ":" + $0 }.joined(separator: ",") + ")"
    }

    static func kind(_ kind: CommandKind) -> String { enumCase("CommandKind", kind.rawValue) }
    static func channel(_ channel: Channel) -> String { enumCase("Channel", channel.rawValue) }

    /// A case as reflection names it: the module, the type, and the case's Swift name, which is its
    /// public snake_case name in camel case.
    static func enumCase(_ type: String, _ rawValue: String) -> String {
        var name = ""
        var upper = false
        for c in rawValue {
            if c == "_" { upper = true; continue }
            name += upper ? c.uppercased() : String(c)
            upper = false
        }
        return "AftersaleReactor." + type + "." + name
    }
}
