/// The unit in which ages, recencies, waiting times and model rates are measured.
///
/// A model fitted on summaries in one unit has rates in that unit; keep one unit throughout.
public enum TimeUnit: String, Sendable, Hashable, CaseIterable {
    /// Days.
    case day
    /// Weeks of seven days.
    case week

    /// Days in one unit.
    public var days: Double {
        switch self {
        case .day: 1
        case .week: 7
        }
    }

    /// One month, a twelfth of a 365.25-day year, in this unit.
    public var month: Double { 365.25 / 12 / days }
}
