import AftersaleAnalytics
import AftersaleCore
import AftersaleReactor
import AftersaleStore
import CustomerValue
import Foundation

/// Gathers what exports, the report and the demo show, from the log and its read models.
struct ShopAnalytics {
    let log: EventLog
    let customers: CustomerProjection
    /// The moment stages and predictions are judged at.
    let now: Timestamp

    init(log: EventLog, now: Timestamp) throws {
        self.log = log
        self.customers = try CustomerProjection(log: log)
        self.now = now
        try customers.catchUp()
    }

    /// The latest fitted model, if any.
    func latestModel() throws -> FittedModel? {
        try log.lastEvent(of: .modelFitted, in: EventType.systemCustomer).flatMap { FittedModel(event: $0.event) }
    }

    /// Export rows for every customer, with predictions when a model was fitted and RFM scores.
    func customerRows(_ body: (CustomerRow) throws -> Void) throws {
        var rfmInputs: [RFMInput] = []
        try customers.forEachState { if let input = RFMInput(state: $0, asOf: now) { rfmInputs.append(input) } }
        let scores = RFM.score(rfmInputs)
        rfmInputs = []
        let model = try latestModel()
        try customers.forEachState { state in
            let prediction = model.flatMap { LifetimeValue.predict(state, with: $0, now: now) }.map { p in
                AftersaleAnalytics.CustomerPrediction(
                    pAlive: p.probabilityAlive, predictedValue12Months: p.predictedValue12Months,
                    expectedPurchases365Days: p.expectedPurchases365Days,
                    repeatPurchaseProbability90Days: p.repeatPurchaseProbability90Days, expectedNextOrderAt: p.expectedNextOrder)
            }
            try body(CustomerRow(state: state, stage: LifecycleStage.classify(state, at: now), asOf: now, prediction: prediction,
                                 rfm: scores[state.customer]))
        }
    }

    func orderRows(_ body: (OrderRow) throws -> Void) throws {
        try customers.forEachState { state in
            for order in state.orders.values.sorted(by: { ($0.placedAt?.millis ?? 0, $0.id) < ($1.placedAt?.millis ?? 0, $1.id) }) {
                try body(OrderRow(customer: state.customer, order: order))
            }
        }
    }

    /// Reviews joined with their replies, in the order they were posted.
    func reviewRows() throws -> [ReviewRow] {
        var rows: [ReviewRow] = []
        var index: [String: Int] = [:]
        try log.read(types: [.reviewPosted, .reviewReplied]) { recorded in
            let e = recorded.event, d = e.data
            guard let review = d["review"]?.stringValue else { return }
            if e.type == .reviewPosted {
                guard index[review] == nil else { return }
                index[review] = rows.count
                rows.append(ReviewRow(review: review, customer: e.customer, sku: d["sku"]?.stringValue ?? "", order: d["order"]?.stringValue,
                                      rating: d["rating"]?.intValue ?? 0, postedAt: e.at, text: d["text"]?.stringValue))
            } else if let i = index[review], rows[i].repliedAt == nil {
                rows[i].repliedAt = e.at
                rows[i].replyBy = d["by"]?.stringValue
                rows[i].replyText = d["text"]?.stringValue
            }
        }
        return rows
    }

    func returnRows() throws -> [ReturnRow] {
        var rows: [ReturnRow] = []
        var index: [String: Int] = [:]
        try log.read(types: [.returnRequested, .returnRefunded]) { recorded in
            let e = recorded.event, d = e.data
            guard let id = d["return"]?.stringValue else { return }
            if e.type == .returnRequested {
                guard index[id] == nil else { return }
                index[id] = rows.count
                let lines = d["lines"]?.arrayValue?.compactMap { v -> ReturnRow.Line? in
                    guard let sku = v["sku"]?.stringValue else { return nil }
                    return ReturnRow.Line(sku: sku, quantity: v["quantity"]?.intValue ?? 1)
                }
                rows.append(ReturnRow(returnID: id, order: d["order"]?.stringValue ?? "", customer: e.customer, requestedAt: e.at,
                                      reason: d["reason"]?.stringValue, lines: lines))
            } else {
                let amount = Money(amount: d["amount"], currency: d["currency"])
                if let i = index[id] {
                    rows[i].refundedAt = e.at
                    rows[i].refund = amount
                } else {  // a refund that arrived before its request
                    index[id] = rows.count
                    rows.append(ReturnRow(returnID: id, order: d["order"]?.stringValue ?? "", customer: e.customer, requestedAt: nil,
                                          reason: nil, lines: nil, refundedAt: e.at, refund: amount))
                }
            }
        }
        return rows
    }

    func cohortRows() throws -> [CohortRow] {
        var cohorts = CohortRetention()
        try customers.forEachState { cohorts.add($0) }
        return cohorts.rows(through: Month(now))
    }

    func productRows(reviews: [ReviewRow]) throws -> [ProductRow] {
        var tally = ProductTally()
        try customers.forEachState { tally.add($0) }
        for review in reviews { tally.add(review: review) }
        return tally.rows()
    }

    /// Predicted against actual purchases after a calibration day, per calibration frequency.
    ///
    /// Uses the model fitted through `asOf` if the log has one, else fits one (not recorded).
    func calibration(asOf: CivilDate?, states known: [CustomerState]? = nil) throws
        -> (model: FittedModel, holdoutDays: Int, rows: [CalibrationRow])? {
        let states = try known ?? customers.allStates()
        guard let lastDay = try log.latestEventTime()?.utcDay else { return nil }
        let model: FittedModel
        if let asOf {
            if let recorded = try latestModel(), recorded.calibrationEnd == asOf {
                model = recorded
            } else {
                model = try LifetimeValue.fit(states, kind: .bgnbd, asOf: asOf, unit: .week)
            }
        } else {
            guard let recorded = try latestModel() else { return nil }
            if recorded.calibrationEnd.daysSinceEpoch < lastDay {
                model = recorded
            } else {
                // The latest fit saw everything: check the model on the last third of the history
                // (at least 90 days) with a fit on the rest, which is not recorded.
                guard let firstDay = states.compactMap({ $0.purchaseDays.first?.day }).min() else { return nil }
                let split = lastDay - max(90, (lastDay - firstDay) / 3)
                guard split > firstDay,
                      let fitted = try? LifetimeValue.fit(states, kind: recorded.kind, asOf: CivilDate(daysSinceEpoch: split),
                                                          unit: recorded.unit) else { return nil }
                model = fitted
            }
        }
        let end = model.calibrationEnd.daysSinceEpoch
        let holdoutDays = Int(lastDay - end)
        guard holdoutDays > 0 else { return nil }
        let purchases = model.purchaseModel
        let inputs = states.lazy.filter { $0.primaryCurrency?.code == model.currency }.compactMap { state -> CalibrationInput? in
            guard let summary = LifetimeValue.summary(of: state, through: end, unit: model.unit) else { return nil }
            let predicted = purchases.expectedPurchases(in: Double(holdoutDays) / model.unit.days, for: summary)
            let actual = state.purchaseDays.filter { $0.day > end && $0.day <= lastDay }.count
            return CalibrationInput(calibrationFrequency: summary.frequency, predictedHoldoutPurchases: predicted, actualHoldoutPurchases: actual)
        }
        return (model, holdoutDays, Calibration.buckets(Array(inputs)))
    }
}

extension ShopAnalytics {
    /// The reactor's outbox as export rows, with when each command was dispatched (empty before the
    /// reactor's first run).
    func actionRows() throws -> [ActionRow] {
        var dispatchedAt: [String: Timestamp] = [:]
        try log.read(types: [.actionDispatched]) { recorded in
            if let id = recorded.event.data["action"]?.stringValue, dispatchedAt[id] == nil { dispatchedAt[id] = recorded.event.at }
        }
        return try ReactorStore(log: log).commands().map { c in
            var statusReason: String?
            var cancelledBy: String?
            switch c.status {
            case .cancelled(let by, let reason): (statusReason, cancelledBy) = (reason, by)
            case .suppressed(let reason): statusReason = reason
            default: break
            }
            return ActionRow(action: c.id, customer: c.customer, kind: c.kind.rawValue, channel: c.channel.rawValue, status: c.status.name,
                             statusReason: statusReason, cancelledBy: cancelledBy, reason: c.reason, trigger: c.trigger, due: c.due,
                             dispatchedAt: dispatchedAt[c.id], payload: c.payload)
        }
    }
}

extension ShopAnalytics {
    /// Everything the HTML report shows, in one pass over the customers plus the review and action tables.
    func reportData(shopName: String) throws -> ReportData {
        let states = try customers.allStates()
        let model = try latestModel()
        var value: CustomerValueDistribution?
        // No customer has a currency before the first order, and no model is fitted before one.
        if let currency = LifetimeValue.dominantCurrency(states) {
            if let model, model.currency == currency.code {
                let predicted = states.compactMap { LifetimeValue.predict($0, with: model, now: now)?.predictedValue12Months?.minorUnits }
                value = CustomerValueDistribution(kind: .predicted12Months, currency: currency, values: predicted)
            } else if states.contains(where: { $0.orderCount > 0 }) {
                value = CustomerValueDistribution(historicalOf: states, currency: currency)
            }
        }
        var stages: [StageCount] = []
        if let first = states.compactMap(\.firstOrderAt).min() {
            var timeline = StageTimeline(from: Month(first), through: Month(now))
            for state in states { timeline.add(state) }
            stages = timeline.result
        }
        var cohorts = CohortRetention()
        for state in states { cohorts.add(state) }
        var calibration: CalibrationSection?
        if let result = try self.calibration(asOf: nil, states: states) {
            calibration = CalibrationSection(model: result.model.kind.displayName, calibrationEnd: result.model.calibrationEnd,
                                             holdoutDays: result.holdoutDays, rows: result.rows)
        }
        return ReportData(shopName: shopName, generatedAt: now, summary: ReportSummary(states: states),
                          cohorts: cohorts.rows(through: Month(now)), customerValue: value, stages: stages,
                          calibration: calibration, actions: ActionTally.tally(try actionRows()),
                          reviews: ReviewSummary(reviews: try reviewRows()))
    }
}
