import Foundation

/// A buy-till-you-die model of how often a customer buys and whether they are still a customer.
///
/// Times (`duration`, `age`, `recency`) are in the unit the model was fitted in.
public protocol PurchaseModel: Sendable {
    /// Probability that the customer is still active at the end of calibration.
    func probabilityAlive(_ customer: RFMSummary) -> Double

    /// Expected number of purchases in the next `duration` after the end of calibration.
    func expectedPurchases(in duration: Double, for customer: RFMSummary) -> Double

    /// Probability of at least one purchase in the next `duration` after the end of calibration.
    func probabilityOfPurchase(within duration: Double, for customer: RFMSummary) -> Double

    /// Median time from the end of calibration to the next purchase, given the customer is still active.
    ///
    /// `Double.infinity` when an active customer is at least as likely never to buy again.
    func medianTimeToNextPurchase(for customer: RFMSummary) -> Double

    /// `expectedPurchases(in:for:)` for each of `durations`, in order: what `lifetimeValue` sums.
    /// A model computes what the durations share (P(alive)) once; the values are the same.
    func expectedPurchases(in durations: [Double], for customer: RFMSummary) -> [Double]

    /// Shape of the purchase-rate distribution: while active, λ ~ Gamma(`r`, `alpha`).
    var r: Double { get }
    /// Rate (inverse scale) of the purchase-rate distribution, in the fitted time unit.
    var alpha: Double { get }
}

extension PurchaseModel {
    /// At least `expectedPurchases(in: duration, for: customer)`, and at least the same at every
    /// later age with the same purchases: what a forecast asked only whether a customer reaches a
    /// threshold can answer without the series, and what tells it they never will without a new
    /// purchase.
    ///
    /// P(alive) · (r+x) t / (α+T): alive at T, λ is Gamma(r+x, α+T), and a customer who may still
    /// drop out (after a purchase, BG/NBD; at the end of a lifetime, Pareto/NBD, whose
    /// `expectedPurchases` bracket is at most t for any s > 0) buys at most λt in t on average.
    /// P(alive) and (r+x)/(α+T) only fall as T grows with x and tₓ fixed, so no later age expects more.
    public func expectedPurchasesAtMost(in duration: Double, for customer: RFMSummary) -> Double {
        guard duration > 0 else { return 0 }
        return probabilityAlive(customer) * (r + Double(customer.frequency)) * duration / (alpha + customer.age)
    }

    public func expectedPurchases(in durations: [Double], for customer: RFMSummary) -> [Double] {
        durations.map { expectedPurchases(in: $0, for: customer) }
    }

    /// Discounted value of the customer's expected purchases over the next `months` months.
    ///
    /// Sums, over months k = 1…`months`, the expected purchases in month k times
    /// `averageSpend`, divided by (1 + `monthlyDiscountRate`)^k. A month is a twelfth of a
    /// 365.25-day year expressed in `unit`, the unit the model was fitted in.
    public func lifetimeValue(
        of customer: RFMSummary, averageSpend: Double, months: Int = 12,
        monthlyDiscountRate: Double = 0.01, unit: TimeUnit
    ) -> Double {
        var value = 0.0
        var previous = 0.0
        var discount = 1.0
        guard months >= 1 else { return value }
        let cumulatives = expectedPurchases(in: (1...months).map { Double($0) * unit.month }, for: customer)
        for cumulative in cumulatives {
            discount /= 1 + monthlyDiscountRate
            value += (cumulative - previous) * averageSpend * discount
            previous = cumulative
        }
        return value
    }

    /// Discounted value over the next `months` months with spend predicted by a Gamma-Gamma model.
    public func lifetimeValue(
        of customer: RFMSummary, spend: GammaGamma, months: Int = 12,
        monthlyDiscountRate: Double = 0.01, unit: TimeUnit
    ) -> Double {
        let averageSpend = spend.expectedAverageSpend(frequency: customer.frequency, monetaryValue: customer.monetaryValue)
        return lifetimeValue(of: customer, averageSpend: averageSpend, months: months, monthlyDiscountRate: monthlyDiscountRate, unit: unit)
    }
}
