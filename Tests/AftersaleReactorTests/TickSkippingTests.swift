import AftersaleCore
import AftersaleReactor
import ShopSimulator
import Testing

/// The engine skips clock ticks before the policies' next wake. Skipping must change nothing: the
/// same commands, statuses and clocks as an engine that judges every tick, over a simulated shop
/// (customers in many time zones, birthdays, anniversaries, late parcels, lapses) with a model
/// whose forecasts change from period to period, run from cron at arbitrary hours.
@Suite("Skipping quiet ticks")
struct TickSkippingTests {
    /// A forecast that moves with time and history: P(alive) decays with the time since the last
    /// order, value grows with orders, the next order is expected a customer-specific gap after the last.
    static let forecaster: @Sendable (CustomerState, Timestamp) -> CustomerForecast? = { state, at in
        guard let last = state.lastOrderAt, let currency = state.primaryCurrency else { return nil }
        let days = Double(at.millis - last.millis) / Double(Timestamp.millisPerDay)
        let hash = state.customer.utf8.reduce(0) { $0 &+ Int($1) }
        // Half the customers have an expected next order (a lapse by the calendar), half only P(alive).
        let gap = Double(30 + hash % 200)
        let next = hash % 2 == 0 ? last.adding(millis: Int64(gap * Double(Timestamp.millisPerDay))) : nil
        return CustomerForecast(pAlive: max(0, 1 - days / (next == nil ? 50 : 150)), predictedCLV: Money(minorUnits: Int64(state.orderCount) * 9_000, currency: currency),
                                expectedNextOrderAt: next)
    }

    static func engines() -> (skipping: ReactorEngine, everyTick: ReactorEngine) {
        var skipping = ReactorEngine(configuration: ReactorConfiguration(), timeZoneOffset: ReactorContext.foundationOffset)
        skipping.forecaster = forecaster
        var everyTick = skipping
        everyTick.judgesEveryTick = true
        return (skipping, everyTick)
    }

    @Test("a simulated shop gets the same outbox and clocks whether quiet ticks are skipped or judged", arguments: [UInt64(7), 2024])
    func sameDecisions(seed: UInt64) throws {
        // Enough customers that some plays wake exactly on a tick (a daily tick on the first day of
        // a forecast period) and decide something there: with 120, a tick judging only the plays
        // woken before it went unnoticed.
        let simulation = ShopSimulation(SimulationConfiguration(seed: seed, customers: 300))
        let validator = EventValidator(now: Timestamp(millis: 4_000_000_000_000))
        let events = try simulation.map { try validator.decode(line: $0) }
        #expect(events.count > 1000)
        var (skipping, everyTick) = Self.engines()
        var runs = SimulationRandom(seed: seed)
        for event in events {
            skipping.apply(event)
            everyTick.apply(event)
            // A cron run now and then, at an hour of its own.
            if runs.next() % 97 == 0 {
                let at = event.at.adding(millis: Int64(runs.next() % UInt64(Timestamp.millisPerDay)))
                skipping.advance(to: at)
                everyTick.advance(to: at)
            }
        }
        let end = events.last!.at.adding(millis: 400 * Timestamp.millisPerDay)
        skipping.advance(to: end)
        everyTick.advance(to: end)
        #expect(skipping.commandCount > 500)
        let ids = Set(skipping.commandsByCustomer.values.joined().map(\.id)).union(everyTick.commandsByCustomer.values.joined().map(\.id))
        let differing = ids.filter { skipping.command($0) != everyTick.command($0) }.sorted()
        #expect(differing.isEmpty, "\(differing.count) commands differ, first \(differing.prefix(3))")
        let clocks = skipping.customers.keys.filter { skipping.customers[$0] != everyTick.customers[$0] }.sorted()
        #expect(clocks.isEmpty && skipping.customers.count == everyTick.customers.count, "customers differ: \(clocks.prefix(3))")
        let clockKinds = Set(skipping.commandsByCustomer.values.joined().filter { $0.trigger == "clock" }.map(\.kind))
        #expect(clockKinds.isSuperset(of: [.birthdayOffer, .anniversaryOffer, .winBack, .loyaltyReward]), "\(clockKinds)")
    }
}
