public import AftersaleCore
internal import AftersaleOutbox
internal import AftersaleProjections
internal import AftersaleReactor
public import AftersaleStore
public import CustomerValue
internal import BuyTillYouDie

/// Gathers what exports, the report and the demo show, from the log, the customers projection
/// (caught up first) and the outbox; the computations themselves are this module's pure types.
public struct ShopAnalytics {
    let log: EventLog
    let customers: CustomerProjection
    /// The moment stages and predictions are judged at.
    public let now: Timestamp

    public init(log: EventLog, now: Timestamp) throws {
        self.log = log
        self.customers = try CustomerProjection(log: log)
        self.now = now
        try customers.catchUp()
    }

    /// The latest fitted model, if any.
    public func latestModel() throws -> FittedModel? {
        try log.lastEvent(of: .modelFitted, in: EventType.systemCustomer).flatMap { FittedModel(event: $0.event) }
    }

    /// Export rows for every customer, with predictions when a model was fitted and RFM scores.
    public func customerRows(_ body: (CustomerRow) throws -> Void) throws {
        // Two passes: the first counts the values RFM ranks, the second scores each customer as it
        // writes them; nothing per customer is held between the two.
        var base = RFM.Base()
        try customers.forEachState { if let input = RFMInput(state: $0, asOf: now) { base.add(input) } }
        let scorer = base.scorer()
        let model = try latestModel()
        try customers.forEachState { state in
            let prediction = model.flatMap { LifetimeValue.predict(state, with: $0, now: now) }.map { p in
                CustomerPrediction(
                    pAlive: p.probabilityAlive, predictedValue12Months: p.predictedValue12Months,
                    expectedPurchases365Days: p.expectedPurchases365Days,
                    repeatPurchaseProbability90Days: p.repeatPurchaseProbability90Days, expectedNextOrderAt: p.expectedNextOrder)
            }
            try body(CustomerRow(state: state, stage: LifecycleStage.classify(state, at: now), asOf: now, prediction: prediction,
                                 rfm: RFMInput(state: state, asOf: now).flatMap(scorer.score)))
        }
    }

    public func orderRows(_ body: (OrderRow) throws -> Void) throws {
        try customers.forEachState { state in
            for order in state.orders.values.sorted(by: { ($0.placedAt?.millis ?? 0, $0.id) < ($1.placedAt?.millis ?? 0, $1.id) }) {
                try body(OrderRow(customer: state.customer, order: order))
            }
        }
    }

    /// Reviews joined with their replies, in the order they were posted.
    public func reviewRows() throws -> [ReviewRow] {
        var join = ReviewJoin()
        try log.read(types: [.reviewPosted, .reviewReplied]) { join.add(PersonalDataVault.reveal($0.event, with: log.vault).event) }
        return join.rows
    }

    /// Returns joined with their refunds, in the order they were first seen.
    public func returnRows() throws -> [ReturnRow] {
        var join = ReturnJoin()
        try log.read(types: [.returnRequested, .returnRefunded]) { join.add(PersonalDataVault.reveal($0.event, with: log.vault).event) }
        return join.rows
    }

    public func cohortRows() throws -> [CohortRow] {
        var cohorts = CohortRetention()
        try customers.forEachState { cohorts.add($0) }
        return cohorts.rows(through: Month(now))
    }

    public func productRows(reviews: [ReviewRow]) throws -> [ProductRow] {
        var tally = ProductTally()
        try customers.forEachState { tally.add($0) }
        for review in reviews { tally.add(review: review) }
        return tally.rows()
    }

    /// Predicted against actual purchases after a calibration day, per calibration frequency.
    ///
    /// Uses the model fitted through `asOf` if the log has one, else fits one (not recorded). Reads
    /// each customer's purchase days only, a pass at a time, never every state at once.
    public func calibration(asOf: CivilDate?) throws -> (model: FittedModel, holdoutDays: Int, rows: [CalibrationRow])? {
        guard let lastDay = try log.latestEventTime()?.utcDay else { return nil }
        func input(asOf day: CivilDate, unit: TimeUnit) throws -> LifetimeValue.FitInput {
            var input = LifetimeValue.FitInput(asOf: day, unit: unit)
            try customers.forEachPurchaseHistory { input.add($0) }
            return input
        }
        let model: FittedModel
        if let asOf {
            if let recorded = try latestModel(), recorded.calibrationEnd == asOf {
                model = recorded
            } else {
                model = try LifetimeValue.fit(try input(asOf: asOf, unit: .week), kind: .bgnbd)
            }
        } else {
            guard let recorded = try latestModel() else { return nil }
            if recorded.calibrationEnd.daysSinceEpoch < lastDay {
                model = recorded
            } else {
                // The latest fit saw everything: check the model on the last third of the history
                // (at least 90 days) with a fit on the rest, which is not recorded.
                var firstDay: Int64?
                try customers.forEachPurchaseHistory { state in
                    if let day = state.purchaseDays.first?.day { firstDay = min(firstDay ?? day, day) }
                }
                guard let firstDay, let split = Calibration.holdoutSplit(firstDay: firstDay, lastDay: lastDay) else { return nil }
                guard let fitted = try? LifetimeValue.fit(try input(asOf: split, unit: recorded.unit), kind: recorded.kind) else { return nil }
                model = fitted
            }
        }
        let end = model.calibrationEnd.daysSinceEpoch
        let holdoutDays = Int(lastDay - end)
        guard holdoutDays > 0 else { return nil }
        let purchases = model.purchaseModel
        var inputs: [CalibrationInput] = []
        try customers.forEachPurchaseHistory { state in
            guard state.primaryCurrency?.code == model.currency,
                  let summary = LifetimeValue.summary(of: state, through: end, unit: model.unit) else { return }
            let predicted = purchases.expectedPurchases(in: Double(holdoutDays) / model.unit.days, for: summary)
            let actual = state.purchaseDays.filter { $0.day > end && $0.day <= lastDay }.count
            inputs.append(CalibrationInput(calibrationFrequency: summary.frequency, predictedHoldoutPurchases: predicted,
                                           actualHoldoutPurchases: actual))
        }
        return (model, holdoutDays, Calibration.buckets(inputs))
    }
}

extension ShopAnalytics {
    /// The reactor's outbox as export rows, with when each command was dispatched (empty before the
    /// reactor's first run).
    public func actionRows() throws -> [ActionRow] {
        var dispatchedAt: [String: Timestamp] = [:]
        // A webhook delivery's outcome carries its destination and every try; the last one counts
        // (a redelivery after a failure).
        var delivery: [String: (String, [JSONValue])] = [:]
        try log.read(types: [.actionDispatched, .actionSuppressed]) { recorded in
            guard let handOff = HandOff(recorded.event) else { return }
            if handOff.dispatched, dispatchedAt[handOff.action] == nil { dispatchedAt[handOff.action] = recorded.event.at }
            if let destination = recorded.event.data["destination"]?.stringValue, let tries = recorded.event.data["attempts"]?.arrayValue {
                delivery[handOff.action] = (destination, tries)
            }
        }
        return try ReactorStore(log: log).commands().map { c in
            var statusReason: String?
            var cancelledBy: String?
            switch c.status {
            case .cancelled(let by, let reason): (statusReason, cancelledBy) = (reason, by)
            case .suppressed(let reason): statusReason = reason
            default: break
            }
            var row = ActionRow(action: c.id, customer: c.customer, kind: c.kind.rawValue, channel: c.channel.rawValue, status: c.status.name,
                                statusReason: statusReason, cancelledBy: cancelledBy, reason: c.reason, trigger: c.trigger, due: c.due,
                                dispatchedAt: dispatchedAt[c.id], payload: c.payload)
            if let (destination, tries) = delivery[c.id] { (row.deliveredTo, row.deliveryHistory) = (destination, tries) }
            return row
        }
    }
}

extension ShopAnalytics {
    /// Everything the HTML report shows: passes over the customers, one state at a time (the first
    /// gathers the totals, cohorts and values, the second the stages from the first month with an
    /// order), then the calibration's passes, the outbox's counts and the reviews.
    public func reportData(shopName: String) throws -> ReportData {
        let model = try latestModel()
        var summary = ReportSummary.Tally()
        var cohorts = CohortRetention()
        var customersByCurrency: [Currency: Int] = [:]
        var predicted: [Int64] = []
        var historical: [Currency: [Int64]] = [:]
        var anyOrders = false
        var firstOrder: Timestamp?
        try customers.forEachState { state in
            summary.add(state)
            cohorts.add(state)
            if let currency = state.primaryCurrency { customersByCurrency[currency, default: 0] += 1 }
            if let model, let value = LifetimeValue.predict(state, with: model, now: now)?.predictedValue12Months?.minorUnits {
                predicted.append(value)
            }
            if state.orderCount > 0 {
                anyOrders = true
                if let currency = state.primaryCurrency { historical[currency, default: []].append(state.netValue[currency].minorUnits) }
            }
            if let first = state.firstOrderAt { firstOrder = min(firstOrder ?? first, first) }
        }
        var value: CustomerValueDistribution?
        // No customer has a currency before the first order, and no model is fitted before one.
        if let currency = LifetimeValue.dominantCurrency(counts: customersByCurrency) {
            if let model, model.currency == currency.code {
                value = CustomerValueDistribution(kind: .predicted12Months, currency: currency, values: predicted)
            } else if anyOrders {
                value = CustomerValueDistribution(kind: .historical, currency: currency, values: historical[currency] ?? [])
            }
        }
        var stages: [StageCount] = []
        if let firstOrder {
            var timeline = StageTimeline(from: Month(firstOrder), through: Month(now))
            try customers.forEachState { timeline.add($0) }
            stages = timeline.result
        }
        var calibration: CalibrationSection?
        if let result = try self.calibration(asOf: nil) {
            calibration = CalibrationSection(model: result.model.kind.displayName, calibrationEnd: result.model.calibrationEnd,
                                             holdoutDays: result.holdoutDays, rows: result.rows)
        }
        let actions = try ReactorStore(log: log).commandCounts().map { ActionTally(kind: $0.kind, status: $0.status, count: $0.count) }
        return ReportData(shopName: shopName, generatedAt: now, summary: summary.summary,
                          cohorts: cohorts.rows(through: Month(now)), customerValue: value, stages: stages,
                          calibration: calibration, actions: actions, reviews: ReviewSummary(reviews: try reviewRows()))
    }
}
