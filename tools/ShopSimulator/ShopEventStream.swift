/// The event stream of a `ShopSimulation`: lazily generates customers, orders and their
/// consequences, and yields them in nondecreasing time order.
///
/// Ties at the same second keep scheduling order, so the output is fully deterministic.
public struct ShopEventStream: IteratorProtocol, Sequence, Sendable {
    let tables: SimulationTables
    var heap = EventHeap()
    var states: [CustomerState] = []
    var freeSlots: [UInt32] = []
    var upcoming: PurchaseProcess?
    var sequence: UInt64 = 0
    var lines: [OrderLine] = []
    var scratch: [UInt8] = []

    /// Events emitted so far.
    public private(set) var emitted = 0

    init(tables: SimulationTables) {
        self.tables = tables
        if tables.configuration.customers > 0 {
            upcoming = PurchaseProcess(number: 1, configuration: tables.configuration)
        }
        lines.reserveCapacity(4)
        scratch.reserveCapacity(1024)
    }

    /// The next event as one JSON line without the trailing newline; nil at the end or at `maxEvents`.
    public mutating func next() -> String? {
        var bytes: [UInt8] = []
        swap(&bytes, &scratch)
        defer { swap(&bytes, &scratch) }
        bytes.removeAll(keepingCapacity: true)
        guard appendNextLine(to: &bytes) else { return nil }
        bytes.removeLast()  // the newline
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the next event as one JSON line plus `\n`; returns false (appending nothing) at the end or at `maxEvents`.
    public mutating func appendNextLine(to buffer: inout [UInt8]) -> Bool {
        if let cap = tables.configuration.maxEvents, emitted >= cap { return false }
        while let process = upcoming, heap.first.map({ process.registered <= $0.at }) ?? true {
            activate(process)
            let number = process.number + 1
            upcoming = number <= tables.configuration.customers
                ? PurchaseProcess(number: number, configuration: tables.configuration) : nil
        }
        guard let event = heap.pop() else { return false }
        emitted += 1
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: tables.maximumLineBytes) { scratch in
            var writer = LineWriter(scratch)
            if event.kind == .placed {
                placeOrder(event, into: &writer)
            } else {
                render(event, into: &writer)
            }
            buffer.append(contentsOf: writer.written)
        }
        return true
    }

    /// Pending events held in memory (for measuring the bounded-memory claim).
    public var pendingCount: Int { heap.count }

    /// Customers whose purchase process is still running.
    public var activeCustomers: Int { states.count - freeSlots.count }

    // MARK: Scheduling

    @inline(__always)
    mutating func schedule(_ event: PendingEvent) {
        guard event.at < tables.end else { return }
        var event = event
        sequence += 1
        event.sequence = sequence
        heap.push(event)
    }

    private mutating func activate(_ process: PurchaseProcess) {
        let configuration = tables.configuration
        let customer = UInt32(process.number)
        schedule(PendingEvent(at: process.registered, customer: customer, kind: .registered))
        if configuration.sideProcesses && configuration.profiles.consentUpdateRate > 0 {
            var random = SimulationRandom(
                seed: configuration.seed, stream: StreamTag.profile.rawValue, UInt64(customer), 1)
            if random.bernoulli(configuration.profiles.consentUpdateRate) {
                let from = process.registered + CivilTime.secondsPerDay
                let at = from + Int64(random.uniform() * Double(Swift.max(0, tables.end - from)))
                schedule(PendingEvent(at: at, customer: customer, kind: .updated))
            }
        }
        var home = SimulationRandom(seed: configuration.seed, stream: StreamTag.basket.rawValue, UInt64(customer))
        var state = CustomerState(
            process: process, homeCategory: UInt8(tables.categoryChoice.sample(using: &home)))
        guard let first = state.process.nextPurchase() else { return }
        let slot: UInt32
        if let free = freeSlots.popLast() {
            slot = free
            states[Int(slot)] = state
        } else {
            slot = UInt32(states.count)
            states.append(state)
        }
        schedule(PendingEvent(
            at: first.at, customer: customer, order: 1, kind: .placed, slot: slot, amount: first.spend))
    }

    /// Builds the basket of a purchase, renders `order.placed`, schedules its consequences and the next purchase.
    private mutating func placeOrder(_ event: PendingEvent, into buffer: inout LineWriter) {
        let slot = Int(event.slot)
        var state = states[slot]
        buildBasket(state: &state, event: event)
        states[slot] = state
        renderPlaced(event, into: &buffer)
        if tables.configuration.sideProcesses { scheduleAftermath(of: event) }
        if let next = states[slot].process.nextPurchase() {
            schedule(PendingEvent(
                at: next.at, customer: event.customer, order: UInt32(states[slot].process.purchases),
                kind: .placed, slot: event.slot, amount: next.spend))
        } else {
            freeSlots.append(event.slot)
        }
    }
}

/// What the stream remembers about a customer between purchases.
struct CustomerState: Sendable {
    var process: PurchaseProcess
    var homeCategory: UInt8
    /// Category of the previous order's first line; -1 before the first order.
    var lastCategory: Int16 = -1
    /// Last consumable product bought; -1 if none.
    var lastConsumable: Int32 = -1
    var lastConsumableAt: Int64 = 0
}

/// One order line: product index, quantity, unit price in cents.
struct OrderLine: Sendable {
    var product: Int
    var quantity: Int64
    var price: Int64
}
