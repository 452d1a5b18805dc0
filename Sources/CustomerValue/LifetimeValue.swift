public import AftersaleCore
public import BuyTillYouDie

/// Why the engine will not fit or predict.
public struct ValueModelError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What a customer is expected to do and be worth, from a fitted model.
public struct CustomerPrediction: Sendable, Equatable {
    /// P(the customer is still active).
    public var probabilityAlive: Double
    public var expectedPurchases30Days: Double
    public var expectedPurchases90Days: Double
    public var expectedPurchases365Days: Double
    /// P(at least one purchase in the next 90 days): the repeat-purchase probability.
    public var repeatPurchaseProbability90Days: Double
    /// Now plus the median wait for the next purchase if the customer is active; nil when an
    /// active customer is as likely never to buy again.
    public var expectedNextOrder: Timestamp?
    /// Discounted value of the next 12 months' expected purchases; nil without a spend model
    /// or in another currency than the model's.
    public var predictedValue12Months: Money?
    /// Historical net value plus the predicted 12 months.
    public var totalValue: Money?
}

/// Fits the customer-value models on the customer base and predicts per customer.
public enum LifetimeValue {
    /// The least data the engine fits on; below it, it says why instead of printing noise.
    public struct Requirements: Sendable, Equatable {
        public var minimumRepeatBuyers = 200
        public var minimumHistoryDays = 90
        public init(minimumRepeatBuyers: Int = 200, minimumHistoryDays: Int = 90) {
            self.minimumRepeatBuyers = minimumRepeatBuyers
            self.minimumHistoryDays = minimumHistoryDays
        }
    }

    /// The model inputs of a customer as of the end of `endDay` (purchases after it are unseen).
    ///
    /// Occasions are distinct UTC days; values are in major units of the primary currency.
    public static func summary(of state: CustomerState, through endDay: Int64, unit: TimeUnit) -> RFMSummary? {
        let digits = state.primaryCurrency?.minorUnitDigits ?? 2
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        // `RFMSummary(purchases:calibrationEnd:unit:)` over the purchase days, without its table of
        // days: these are distinct and in order already, so the same sums come out in the same
        // order, bit for bit (a fit and every forecast summarise a state; a shop has millions).
        let days = state.purchaseDays
        guard let first = days.first, first.day <= endDay else { return nil }
        var last = first.day
        var repeats = 0
        var repeatValue = 0.0
        for day in days.dropFirst() where day.day <= endDay {
            last = day.day
            repeats += 1
            repeatValue = repeatValue + Double(day.value) / scale
        }
        return RFMSummary(frequency: repeats, recency: Double(Int(last) - Int(first.day)) / unit.days,
                          age: Double(Int(endDay) - Int(first.day)) / unit.days,
                          monetaryValue: repeats > 0 ? repeatValue / Double(repeats) : nil)
    }

    /// The currency most customers buy in: models are fitted on that currency's customers.
    public static func dominantCurrency(_ states: [CustomerState]) -> Currency? {
        var counts: [Currency: Int] = [:]
        for state in states { if let c = state.primaryCurrency { counts[c, default: 0] += 1 } }
        return dominantCurrency(counts: counts)
    }

    /// `dominantCurrency` from how many customers buy in each currency (ties: the first code
    /// alphabetically).
    public static func dominantCurrency(counts: [Currency: Int]) -> Currency? {
        counts.max { ($0.value, $1.key.code) < ($1.value, $0.key.code) }?.key
    }

    /// What a fit reads of each customer, gathered one state at a time, so that a shop's states
    /// need not all be in memory at once: each customer's summary under their currency, how many
    /// customers each currency has, and the first purchase day.
    public struct FitInput: Sendable {
        public let asOf: CivilDate
        public let unit: TimeUnit
        var customersByCurrency: [Currency: Int] = [:]
        var summaries: [Currency: [RFMSummary]] = [:]
        var firstDay: Int64?

        public init(asOf: CivilDate, unit: TimeUnit) {
            self.asOf = asOf
            self.unit = unit
        }

        /// Adds a customer (in a fixed order, e.g. by id: the spend fit's sums follow it).
        public mutating func add(_ state: CustomerState) {
            if let currency = state.primaryCurrency {
                customersByCurrency[currency, default: 0] += 1
                if let summary = LifetimeValue.summary(of: state, through: asOf.daysSinceEpoch, unit: unit) {
                    summaries[currency, default: []].append(summary)
                }
            }
            if let day = state.purchaseDays.first?.day { firstDay = min(firstDay ?? day, day) }
        }

        /// The currency most customers buy in (ties: the first code alphabetically).
        var dominantCurrency: Currency? { LifetimeValue.dominantCurrency(counts: customersByCurrency) }
    }

    /// Fits the purchase model and Gamma-Gamma spend on purchases up to `asOf`.
    public static func fit(_ states: [CustomerState], kind: PurchaseModelKind, asOf: CivilDate, unit: TimeUnit,
                           requirements: Requirements = Requirements()) throws(ValueModelError) -> FittedModel {
        var input = FitInput(asOf: asOf, unit: unit)
        for state in states { input.add(state) }
        return try fit(input, kind: kind, requirements: requirements)
    }

    /// Fits the purchase model and Gamma-Gamma spend on the customers gathered in `input`.
    public static func fit(_ input: FitInput, kind: PurchaseModelKind,
                           requirements: Requirements = Requirements()) throws(ValueModelError) -> FittedModel {
        let (asOf, unit) = (input.asOf, input.unit)
        guard let currency = input.dominantCurrency else {
            throw ValueModelError("cannot predict yet: no customer has placed an order")
        }
        let endDay = asOf.daysSinceEpoch
        let all = input.summaries[currency] ?? []
        let statistics = SufficientStatistics(all)
        let firstDay = input.firstDay ?? endDay
        let historyDays = Int(endDay - firstDay)
        guard statistics.repeatBuyerCount >= requirements.minimumRepeatBuyers else {
            throw ValueModelError("cannot predict yet: \(statistics.repeatBuyerCount) repeat buyers by \(asOf) (in \(currency)); "
                + "the models need at least \(requirements.minimumRepeatBuyers) to say anything better than noise")
        }
        guard historyDays >= requirements.minimumHistoryDays else {
            throw ValueModelError("cannot predict yet: \(historyDays) days of purchase history by \(asOf); "
                + "the models need at least \(requirements.minimumHistoryDays)")
        }
        var fingerprintText = "\(kind.rawValue)|\(unit.rawValue)|\(asOf)|\(currency)"
        for row in statistics.rows { fingerprintText += "|\(row.frequency),\(row.recency),\(row.age),\(row.count)" }
        let fingerprint = String(StableHash.fnv128Hex(fingerprintText).prefix(20))

        let parameters: [String: Double]
        let logLikelihood: Double
        let iterations: Int
        do {
            switch kind {
            case .bgnbd:
                let fit = try BGNBD.fit(statistics)
                parameters = ["r": fit.model.r, "alpha": fit.model.alpha, "a": fit.model.a, "b": fit.model.b]
                (logLikelihood, iterations) = (fit.logLikelihood, fit.iterations)
            case .paretonbd:
                let fit = try ParetoNBD.fit(statistics)
                parameters = ["r": fit.model.r, "alpha": fit.model.alpha, "s": fit.model.s, "beta": fit.model.beta]
                (logLikelihood, iterations) = (fit.logLikelihood, fit.iterations)
            }
        } catch {
            throw ValueModelError("the \(kind.displayName) fit failed: \(error)")
        }
        let spend: GammaGamma
        do {
            spend = try GammaGamma.fit(all).model
        } catch {
            throw ValueModelError("the Gamma-Gamma spend fit failed: \(error)")
        }
        return FittedModel(kind: kind, parameters: parameters, logLikelihood: logLikelihood, calibrationEnd: asOf, unit: unit,
                           customers: statistics.customerCount, repeatBuyers: statistics.repeatBuyerCount,
                           fingerprint: fingerprint, spend: spend, currency: currency.code, iterations: iterations)
    }

    /// Predictions for one customer with all their purchases up to `now`.
    ///
    /// - Parameter monthlyDiscountRate: discount applied to month k's value as 1 / (1 + rate)^k.
    public static func predict(_ state: CustomerState, with model: FittedModel, now: Timestamp,
                               monthlyDiscountRate: Double = 0.01) -> CustomerPrediction? {
        predict(state, with: model, now: now, monthlyDiscountRate: monthlyDiscountRate, expectedPurchases: true)
    }

    /// `predict` without the expected purchases in the next 30, 90 and 365 days (left at 0), which
    /// the reactor's plays never read: it forecasts every customer at every forecast period.
    public static func forecast(_ state: CustomerState, with model: FittedModel, now: Timestamp,
                                monthlyDiscountRate: Double = 0.01) -> CustomerPrediction? {
        predict(state, with: model, now: now, monthlyDiscountRate: monthlyDiscountRate, expectedPurchases: false)
    }

    /// A prediction for the reactor, whose 12 months' value is computed when first asked: that
    /// value sums a series per month, while most of the reactor's questions are only whether it
    /// reaches a threshold, which a bound known at once answers for most customers.
    public struct DeferredPrediction: Sendable {
        public var probabilityAlive: Double
        public var repeatPurchaseProbability90Days: Double
        public var expectedNextOrder: Timestamp?
        /// The currency of the 12 months' value; nil when there is none (no spend model, or
        /// another currency than the model's).
        public var currency: Currency?
        /// At least the 12 months' value, in minor units of `currency`; nil when not known.
        public var valueAtMost: Int64?
        /// Whether every later prediction of the same state, before its next purchase, has a value
        /// of at most `valueAtMost` too, and none when this one has none: the summary saw every
        /// purchase, and the bound only falls as the customer ages.
        public var boundHoldsLater: Bool
        /// The 12 months' value: `forecast(_:with:now:)`'s `predictedValue12Months`.
        public var value: @Sendable () -> Money?
    }

    /// `forecast(_:with:now:)` for the reactor as a function that makes the model's purchase model
    /// once, not at every call (the reactor forecasts each customer at each forecast period), with
    /// the 12 months' value deferred.
    public static func forecaster(for model: FittedModel, monthlyDiscountRate: Double = 0.01)
        -> @Sendable (CustomerState, Timestamp) -> DeferredPrediction? {
        let purchases = model.purchaseModel
        let spend = model.spend
        let year = 12 * model.unit.month
        return { state, now in
            let endDay = now.utcDay
            guard let summary = summary(of: state, through: endDay, unit: model.unit) else { return nil }
            let median = purchases.medianTimeToNextPurchase(for: summary)
            var prediction = DeferredPrediction(
                probabilityAlive: purchases.probabilityAlive(summary),
                repeatPurchaseProbability90Days: purchases.probabilityOfPurchase(within: 90 * (1 / model.unit.days), for: summary),
                expectedNextOrder: median.isFinite ? now.adding(days: median * model.unit.days) : nil,
                currency: nil, valueAtMost: nil,
                boundHoldsLater: (state.purchaseDays.last?.day ?? endDay) <= endDay,
                value: { nil })
            guard let spend, let currency = state.primaryCurrency, currency.code == model.currency else { return prediction }
            prediction.currency = currency
            prediction.value = {
                value12Months(summary, purchases: purchases, spend: spend, currency: currency, unit: model.unit,
                              monthlyDiscountRate: monthlyDiscountRate)
            }
            // The value sums, month by month, the expected purchases of the month times the
            // average spend, discounted: at most the first month's discount times the spend times
            // the bound of the year's purchases (every month's cumulative purchases are at most
            // that bound). A margin far above rounding keeps the bound above the computed value.
            let averageSpend = spend.expectedAverageSpend(frequency: summary.frequency, monetaryValue: summary.monetaryValue)
            let bound = purchases.expectedPurchasesAtMost(in: year, for: summary) * averageSpend / (1 + monthlyDiscountRate)
                * (1 + 1e-6) * minorUnitScale(currency)
            if monthlyDiscountRate >= 0, averageSpend >= 0, bound.isFinite, bound < 1e15 {
                prediction.valueAtMost = Int64(bound.rounded(.up)) + 1
            }
            return prediction
        }
    }

    /// Minor units per major unit of `currency`, as a `Double`.
    static func minorUnitScale(_ currency: Currency) -> Double {
        var scale = 1.0
        for _ in 0..<currency.minorUnitDigits { scale *= 10 }
        return scale
    }

    /// The discounted value of the next 12 months' expected purchases, in minor units (nil when
    /// the model gives no finite value).
    static func value12Months(_ summary: RFMSummary, purchases: any PurchaseModel, spend: GammaGamma, currency: Currency,
                              unit: TimeUnit, monthlyDiscountRate: Double) -> Money? {
        let value = purchases.lifetimeValue(of: summary, spend: spend, months: 12, monthlyDiscountRate: monthlyDiscountRate, unit: unit)
        guard value.isFinite else { return nil }
        return Money(minorUnits: Int64((value * minorUnitScale(currency)).rounded()), currency: currency)
    }

    static func predict(_ state: CustomerState, with model: FittedModel, purchases: (any PurchaseModel)? = nil, now: Timestamp,
                        monthlyDiscountRate: Double, expectedPurchases: Bool) -> CustomerPrediction? {
        guard let summary = summary(of: state, through: now.utcDay, unit: model.unit) else { return nil }
        let purchases = purchases ?? model.purchaseModel
        let perDay = 1 / model.unit.days
        let median = purchases.medianTimeToNextPurchase(for: summary)
        var prediction = CustomerPrediction(
            probabilityAlive: purchases.probabilityAlive(summary),
            expectedPurchases30Days: expectedPurchases ? purchases.expectedPurchases(in: 30 * perDay, for: summary) : 0,
            expectedPurchases90Days: expectedPurchases ? purchases.expectedPurchases(in: 90 * perDay, for: summary) : 0,
            expectedPurchases365Days: expectedPurchases ? purchases.expectedPurchases(in: 365 * perDay, for: summary) : 0,
            repeatPurchaseProbability90Days: purchases.probabilityOfPurchase(within: 90 * perDay, for: summary),
            expectedNextOrder: median.isFinite ? now.adding(days: median * model.unit.days) : nil)
        if let spend = model.spend, let currency = state.primaryCurrency, currency.code == model.currency,
           let predicted = value12Months(summary, purchases: purchases, spend: spend, currency: currency, unit: model.unit,
                                         monthlyDiscountRate: monthlyDiscountRate) {
            prediction.predictedValue12Months = predicted
            prediction.totalValue = Money(minorUnits: predicted.minorUnits + state.netValue[currency].minorUnits, currency: currency)
        }
        return prediction
    }
}
