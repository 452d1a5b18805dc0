import AftersaleCore
import AftersaleOutbox
import AftersaleReactor
@testable import AftersaleStore
import Testing

/// `replay --customer` reads the other customers' events as stored facts and runs no policy for
/// them; what it decides for the customer must be what a replay of everyone decides for them.
@Suite("Replaying one customer from the file")
struct FocusedReplayTests {
    @Test("one customer's replay equals the whole replay for them, with late events, hand-offs and a time limit",
          arguments: [false, true])
    func focusedEqualsWhole(factsHeld: Bool) throws {
        let scratch = Scratch()
        let path = scratch.path("shop.db")
        let log = try EventLog(path: path)
        let events = try messyShopEvents(seed: 5, customers: 120)
        _ = try log.append(Array(events[..<(events.count / 2)]), recorded: testClock)
        // A bulk load that holds the facts of what it appends leaves the replay some facts to derive.
        log.defersFactsMerge = factsHeld
        _ = try log.append(Array(events[(events.count / 2)...]), recorded: testClock)
        var engine = ReactorEngine(configuration: ReactorConfiguration())
        // A forecast that changes with time, so the clock's plays (win-back, VIP) have something to judge.
        engine.forecaster = { state, at in
            guard let last = state.lastOrderAt, let currency = state.primaryCurrency else { return nil }
            let days = Double(at.millis - last.millis) / Double(Timestamp.millisPerDay)
            return CustomerForecast(pAlive: max(0, 1 - days / 90), predictedCLV: Money(minorUnits: Int64(state.orderCount) * 20_000, currency: currency))
        }
        // A dispatch half-way leaves hand-off events in the log, for some customers only.
        let times = events.map(\.at).sorted()
        let middle = times[times.count / 2]
        let outbox = try ReactorStore(log: log)
        let handedOff = try outbox.dispatch(now: middle, engine: engine) { _ in }
        #expect(!handedOff.dispatched.isEmpty)
        let end = times.last!.adding(millis: 30 * Timestamp.millisPerDay)

        let all = try ReactorReplay.run(logAt: path, engine: engine, until: .time(end))
        // Customers whose cross-sell reads what others bought, and customers with hand-offs.
        let crossSold = Set(all.decisions.filter { $0.command.kind == .crossSell }.map(\.command.customer)).sorted()
        let dispatched = Set(all.decisions.filter { $0.change == "dispatched" }.map(\.command.customer)).sorted()
        #expect(!crossSold.isEmpty && !dispatched.isEmpty)
        let chosen = crossSold.prefix(3) + dispatched.prefix(3)
        for limit in [ReactorReplay.Limit.time(end), .time(middle.adding(millis: 5 * Timestamp.millisPerDay))] {
            let whole = try ReactorReplay.run(logAt: path, engine: engine, until: limit)
            for customer in chosen {
                let focused = try ReactorReplay.run(logAt: path, engine: engine, until: limit, customer: customer)
                let expected = whole.decisions.filter { $0.command.customer == customer }
                #expect(!expected.isEmpty)
                #expect(focused.decisions.map(\.cause) == expected.map(\.cause), "\(customer) \(limit)")
                #expect(focused.decisions.map(\.change) == expected.map(\.change), "\(customer) \(limit)")
                #expect(focused.decisions.map(\.command) == expected.map(\.command), "\(customer) \(limit)")
                #expect(focused.clock == whole.clock)
            }
        }
    }
}
