import BuyTillYouDie
import Testing

/// `expectedPurchasesAtMost` lets the reactor stop asking a customer's forecast until their next
/// purchase: a bound that some later age beat would lose a VIP treatment or a win-back.
@Suite("Expected purchases at most")
struct PurchaseBoundTests {
    static let models: [(String, any PurchaseModel)] = [
        ("BG/NBD CDNOW", BGNBD(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)),
        ("BG/NBD a < 1 < b", BGNBD(r: 1.7, alpha: 20, a: 0.3, b: 6)),
        ("BG/NBD a > 1", BGNBD(r: 0.8, alpha: 2, a: 3, b: 1.5)),
        ("Pareto/NBD CDNOW", ParetoNBD(r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669)),
        ("Pareto/NBD s > 1", ParetoNBD(r: 2, alpha: 5, s: 3, beta: 40)),
        ("Pareto/NBD alpha < beta", ParetoNBD(r: 0.5, alpha: 3, s: 0.8, beta: 30)),
    ]

    /// Customers as the reactor sees them: one-time buyers, a few repeat purchases long ago or
    /// lately, and a frequent buyer.
    static let histories: [(frequency: Int, recency: Double)] = [(0, 0), (1, 2), (1, 40), (3, 10), (3, 60), (8, 80), (25, 150)]

    @Test(arguments: 0..<models.count)
    func noLaterAgeExpectsMoreThanTheBound(model index: Int) {
        let (name, model) = Self.models[index]
        for history in Self.histories {
            for age in [history.recency, history.recency + 1, history.recency + 13, history.recency + 104] {
                let now = RFMSummary(frequency: history.frequency, recency: history.recency, age: age)
                for duration in [4.35, 13, 52.18] {
                    let bound = model.expectedPurchasesAtMost(in: duration, for: now)
                    #expect(bound.isFinite && bound > 0, "\(name) \(now)")
                    for later in stride(from: 0.0, through: 260, by: 1.5) {
                        let then = RFMSummary(frequency: history.frequency, recency: history.recency, age: age + later)
                        let expected = model.expectedPurchases(in: duration, for: then)
                        guard expected.isFinite else { continue }
                        #expect(expected <= bound, "\(name) \(now), \(later) later, over \(duration): \(expected) > \(bound)")
                    }
                }
            }
        }
    }

    /// Not a bound of everything: a customer alive and buying often expects about the bound.
    @Test func theBoundIsCloseForAnActiveCustomerOverAShortTime() {
        let model = BGNBD(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
        let active = RFMSummary(frequency: 8, recency: 80, age: 80)
        let bound = model.expectedPurchasesAtMost(in: 4.35, for: active)
        #expect(model.expectedPurchases(in: 4.35, for: active) > 0.8 * bound)
    }
}
