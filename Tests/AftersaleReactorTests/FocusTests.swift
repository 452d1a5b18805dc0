import AftersaleCore
import AftersaleReactor
import ShopSimulator
import Testing

/// `replay --customer` runs the engine focused on one customer: the others' events only teach
/// cross-sell. It must decide for that customer exactly what a run over everyone decides.
@Suite("One customer's replay")
struct FocusTests {
    @Test("a focused engine gives a customer the same decisions, causes and commands as an engine over the whole shop")
    func focusedEqualsFull() throws {
        let simulation = ShopSimulation(SimulationConfiguration(seed: 11, customers: 150))
        let validator = EventValidator(now: Timestamp(millis: 4_000_000_000_000))
        let events = try simulation.map { try validator.decode(line: $0) }
        let end = events.map(\.at).max()!.adding(millis: 200 * Timestamp.millisPerDay)
        var full = TickSkippingTests.engines().skipping
        full.recording = true
        for event in events { full.apply(event) }
        full.advance(to: end)

        // Customers whose cross-sell depends on what others bought, and a few more.
        let crossSold = Set(full.commandsByCustomer.values.joined().filter { $0.kind == .crossSell }.map(\.customer)).sorted()
        #expect(crossSold.count >= 3)
        let chosen = Array(crossSold.prefix(4)) + ["c-000001", "c-000077"]
        for customer in chosen {
            var focused = TickSkippingTests.engines().skipping
            focused.recording = true
            focused.focus = customer
            for event in events { focused.apply(event) }
            focused.advance(to: end)
            let expected = full.records.filter { full.command($0.commandID)?.customer == customer }
            #expect(!expected.isEmpty, "\(customer) has decisions")
            #expect(focused.records == expected, "\(customer): the same decisions in the same order")
            #expect(focused.outbox(of: customer) == full.outbox(of: customer), "\(customer): the same commands")
            #expect(focused.customers[customer] == full.customers[customer], "\(customer): the same state and clock")
            #expect(focused.customers.count == 1, "no other customer is run")
        }
    }
}
