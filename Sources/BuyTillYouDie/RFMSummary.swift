/// One purchase: the day it happened and what it was worth.
///
/// `day` is any integer day numbering (days since an epoch of the caller's choosing);
/// only differences between days matter.
public struct Purchase: Sendable, Hashable {
    /// Day number of the purchase.
    public var day: Int
    /// Money spent.
    public var value: Double

    /// Creates a purchase.
    public init(day: Int, value: Double) {
        self.day = day
        self.value = value
    }
}

/// A customer's recency, frequency and monetary value at the end of a calibration period.
///
/// All purchases on one day are one purchase occasion. `frequency` counts repeat occasions
/// (the first is excluded), `recency` is the time from the first to the last occasion, `age`
/// (the literature's T) the time from the first occasion to the end of calibration, and
/// `monetaryValue` the mean value of the repeat occasions (`nil` without repeat occasions or
/// when values are unknown).
public struct RFMSummary: Sendable, Hashable {
    /// Repeat purchase occasions (x).
    public var frequency: Int
    /// Time from the first to the last occasion (tₓ).
    public var recency: Double
    /// Time from the first occasion to the end of calibration (T).
    public var age: Double
    /// Mean value of the repeat occasions.
    public var monetaryValue: Double?

    /// Creates a summary from known statistics.
    public init(frequency: Int, recency: Double, age: Double, monetaryValue: Double? = nil) {
        self.frequency = frequency
        self.recency = recency
        self.age = age
        self.monetaryValue = monetaryValue
    }

    /// Summarises the purchases made up to and including the day `calibrationEnd`.
    ///
    /// Returns `nil` when the customer made no purchase by `calibrationEnd`. Purchases after
    /// it are ignored; purchases on the same day are summed into one occasion.
    public init?(purchases: some Sequence<Purchase>, calibrationEnd: Int, unit: TimeUnit) {
        var valueByDay: [Int: Double] = [:]
        for purchase in purchases where purchase.day <= calibrationEnd {
            valueByDay[purchase.day, default: 0] += purchase.value
        }
        guard let first = valueByDay.keys.min(), let last = valueByDay.keys.max() else { return nil }
        let repeats = valueByDay.count - 1
        // Summed in day order: Dictionary order changes from process to process, and a floating-point
        // sum in another order differs in its last bits, which would make fits irreproducible.
        let repeatValue = valueByDay.sorted { $0.key < $1.key }.dropFirst().reduce(0.0) { $0 + $1.value }
        self.init(
            frequency: repeats,
            recency: Double(last - first) / unit.days,
            age: Double(calibrationEnd - first) / unit.days,
            monetaryValue: repeats > 0 ? repeatValue / Double(repeats) : nil
        )
    }

    /// Whether the customer bought again after the first occasion.
    public var isRepeatBuyer: Bool { frequency > 0 }
}
