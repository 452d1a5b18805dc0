public import AftersaleCore

/// One customer in a calibration/holdout check of a buy-till-you-die model.
public struct CalibrationInput: Sendable, Equatable {
    /// Repeat purchases in the calibration period (the model's `x`).
    public var calibrationFrequency: Int
    /// Purchases the model predicts for the holdout period.
    public var predictedHoldoutPurchases: Double
    /// Purchases actually made in the holdout period.
    public var actualHoldoutPurchases: Int

    public init(calibrationFrequency: Int, predictedHoldoutPurchases: Double, actualHoldoutPurchases: Int) {
        self.calibrationFrequency = calibrationFrequency
        self.predictedHoldoutPurchases = predictedHoldoutPurchases
        self.actualHoldoutPurchases = actualHoldoutPurchases
    }
}

/// One row of `calibration.csv`: customers with one calibration frequency, predicted vs actual holdout purchases.
public struct CalibrationRow: ExportRow, Equatable {
    public static let exportName = "calibration"
    public static let columns = [
        "frequency", "frequency_label", "customers", "mean_predicted", "mean_actual", "total_predicted", "total_actual",
    ]

    /// The calibration frequency; for the tail bucket its lower bound.
    public var frequency: Int
    /// Whether this bucket holds every frequency from `frequency` up.
    public var isTail: Bool
    public var customers: Int
    public var totalPredicted: Double
    public var totalActual: Int

    public init(frequency: Int, isTail: Bool, customers: Int, totalPredicted: Double, totalActual: Int) {
        self.frequency = frequency
        self.isTail = isTail
        self.customers = customers
        self.totalPredicted = totalPredicted
        self.totalActual = totalActual
    }

    /// `"3"`, or `"7+"` for the tail.
    public var label: String { isTail ? "\(frequency)+" : "\(frequency)" }
    /// nil for an empty bucket.
    public var meanPredicted: Double? { customers == 0 ? nil : totalPredicted / Double(customers) }
    /// nil for an empty bucket.
    public var meanActual: Double? { customers == 0 ? nil : Double(totalActual) / Double(customers) }

    public var values: [ExportValue] {
        [.integer(Int64(frequency)), .text(label), .integer(Int64(customers)), .fixed(meanPredicted, digits: 4),
         .fixed(meanActual, digits: 4), .fixed(totalPredicted, digits: 4), .integer(Int64(totalActual))]
    }
}

/// The classic buy-till-you-die calibration check.
public enum Calibration {
    /// Buckets customers by calibration frequency 0, 1, ..., `tailFrom - 1` and `tailFrom`+.
    ///
    /// Every bucket is returned, empty ones with zero customers, so the table always has
    /// `tailFrom + 1` rows. Negative frequencies count as 0.
    public static func buckets(_ inputs: some Sequence<CalibrationInput>, tailFrom: Int = 7) -> [CalibrationRow] {
        let tail = max(1, tailFrom)
        var rows = (0...tail).map { CalibrationRow(frequency: $0, isTail: $0 == tail, customers: 0, totalPredicted: 0, totalActual: 0) }
        for input in inputs {
            let bucket = min(max(0, input.calibrationFrequency), tail)
            rows[bucket].customers += 1
            rows[bucket].totalPredicted += input.predictedHoldoutPurchases
            rows[bucket].totalActual += input.actualHoldoutPurchases
        }
        return rows
    }

    /// Where to split a history that the latest fit saw whole, to check the model against what it
    /// did not see: the last third of the days from the first purchase to `lastDay` is the holdout,
    /// and at least 90 days. Nil when that leaves no calibration period.
    public static func holdoutSplit(firstDay: Int64, lastDay: Int64) -> CivilDate? {
        let split = lastDay - max(90, (lastDay - firstDay) / 3)
        return split > firstDay ? CivilDate(daysSinceEpoch: split) : nil
    }
}
