/// Where a customer stands, judged from their state at a moment.
///
/// Definitions (days are measured from the last order to `now`):
/// - `prospect`: known (registered or other events), no order that was not cancelled.
/// - `new`: exactly one order, placed at most `atRiskAfterDays` (default 90) days ago.
/// - `repeat`: two or three orders, the last within their expected rhythm (see at risk).
/// - `loyal`: four or more orders (the VIP tier), the last within their expected rhythm.
/// - `atRisk`: the last order is overdue: more than `atRiskAfterDays` ago for one-time buyers, or
///   more than twice the customer's average gap between orders (and at least 30 days) for repeat
///   buyers; but not yet lapsed.
/// - `lapsed`: no order for more than `lapsedAfterDays` (default 365) days.
public enum LifecycleStage: String, Sendable, CaseIterable, Comparable {
    case prospect
    case new
    case `repeat`
    case loyal
    case atRisk = "at_risk"
    case lapsed

    public static func < (l: LifecycleStage, r: LifecycleStage) -> Bool {
        allCases.firstIndex(of: l)! < allCases.firstIndex(of: r)!
    }

    /// Thresholds for the stage definitions.
    public struct Thresholds: Sendable, Equatable {
        public var loyalOrders = 4
        public var atRiskAfterDays = 90.0
        public var lapsedAfterDays = 365.0
        public init() {}
    }

    public static func classify(_ state: CustomerState, at now: Timestamp, thresholds: Thresholds = Thresholds()) -> LifecycleStage {
        classify(orderCount: state.orderCount, lastOrderAt: state.lastOrderAt, averageDaysBetweenOrders: state.averageDaysBetweenOrders,
                 at: now, thresholds: thresholds)
    }

    /// The stage from the three things it reads of a state (`CustomerState.orderCount`,
    /// `lastOrderAt` and `averageDaysBetweenOrders`): a report classifies every customer at every
    /// month's end without making a state for each.
    public static func classify(orderCount: Int, lastOrderAt: Timestamp?, averageDaysBetweenOrders: Double?, at now: Timestamp,
                                thresholds: Thresholds = Thresholds()) -> LifecycleStage {
        guard orderCount > 0, let last = lastOrderAt else { return .prospect }
        let daysSince = Double(now.millis - last.millis) / Double(Timestamp.millisPerDay)
        if daysSince > thresholds.lapsedAfterDays { return .lapsed }
        if orderCount == 1 { return daysSince > thresholds.atRiskAfterDays ? .atRisk : .new }
        let rhythm = max(30, 2 * (averageDaysBetweenOrders ?? thresholds.atRiskAfterDays / 2))
        if daysSince > rhythm { return .atRisk }
        return orderCount >= thresholds.loyalOrders ? .loyal : .repeat
    }
}
