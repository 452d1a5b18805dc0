public import AftersaleCore
internal import Dispatch

/// One engine's work split by customer across engines that run at once, deciding exactly what the
/// one engine decides.
///
/// A customer's state, clock, commands and forecasts are theirs alone, so each shard runs its
/// customers' events and ticks by itself. The one thing customers share is what cross-sell learns:
/// how many customers bought one SKU after another. A shard cannot learn that from its own
/// customers, so before the shards run a stretch of the log, one pass folds every customer's
/// orders (the cheap fold, without plays) and lists each order's co-purchase pairs with the
/// event they came from. Every shard then counts all the pairs, in log order, before each of its
/// events: its counts at an event are those a single engine would have there, and so are its
/// cross-sell picks. The `model.fitted` events go to every shard.
public struct ReactorShards: Sendable {
    private var shards: [ReactorEngine]
    /// The states the co-purchase pass folds, one per customer seen.
    private var learner: [String: CustomerState]

    /// Splits `engine` into `count` shards (at least one).
    public init(_ engine: ReactorEngine, count: Int) {
        let count = max(1, count)
        shards = engine.split(into: count) { ReactorShards.shard(of: $0, among: count) }
        learner = engine.customers.mapValues(\.state)
    }

    /// Which shard a customer belongs to: a fixed hash (FNV-1a) of their id, the same in every run.
    static func shard(of customer: String, among count: Int) -> Int {
        guard count > 1 else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in customer.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(count))
    }

    /// An order's co-purchase pair, and the index in the stretch of the event that taught it.
    struct Pair {
        var event: Int
        var previous: String
        var sku: String
    }

    /// Applies a stretch of events in log order, as `ReactorEngine.apply` would one by one.
    public mutating func apply(_ events: [Event]) {
        guard !events.isEmpty else { return }
        let count = shards.count
        // Which shard runs each event: -1 for every shard (a new model).
        var owners = [Int](repeating: 0, count: events.count)
        var pairs: [Pair] = []
        for (index, event) in events.enumerated() {
            switch event.type {
            case .modelFitted:
                owners[index] = -1
                continue
            case .actionDispatched, .actionSuppressed:
                owners[index] = ReactorShards.shard(of: event.customer, among: count)
                continue
            default:
                owners[index] = ReactorShards.shard(of: event.customer, among: count)
            }
            guard event.customer != EventType.systemCustomer else { continue }
            // The same fold and the same pairs as `ReactorEngine.apply`.
            var state = learner.removeValue(forKey: event.customer) ?? CustomerState(customer: event.customer)
            if event.type == .orderPlaced {
                let owned = state.ownedSKUs
                state.apply(event)
                for (previous, sku) in ReactorEngine.coPurchases(owned: owned, after: state, order: event.data["order"]?.stringValue) {
                    pairs.append(Pair(event: index, previous: previous, sku: sku))
                }
            } else {
                state.apply(event)
            }
            learner[event.customer] = state
        }
        let work = Work(shards: shards)
        shards = []
        let (owner, learned) = (owners, pairs)
        DispatchQueue.concurrentPerform(iterations: count) { s in
            var engine = work.take(s)
            var next = 0
            for (index, event) in events.enumerated() where owner[index] == s || owner[index] == -1 {
                // Every pair from an earlier event of the stretch, whoever's it was.
                while next < learned.count, learned[next].event < index {
                    engine.learnCoPurchase(of: learned[next].sku, after: learned[next].previous)
                    next += 1
                }
                engine.apply(event)
            }
            while next < learned.count {
                engine.learnCoPurchase(of: learned[next].sku, after: learned[next].previous)
                next += 1
            }
            work.put(engine, at: s)
        }
        shards = work.engines()
    }

    /// Judges every customer's time-based plays up to `now`, as `ReactorEngine.advance(to:)`.
    public mutating func advance(to now: Timestamp) {
        let work = Work(shards: shards)
        shards = []
        DispatchQueue.concurrentPerform(iterations: work.count) { s in
            var engine = work.take(s)
            engine.advance(to: now)
            work.put(engine, at: s)
        }
        shards = work.engines()
    }

    /// The shards as one engine again.
    public func merged() -> ReactorEngine { ReactorEngine.merge(shards) }
}

/// The shards while they run: each thread takes its own engine out and puts it back, so no two
/// threads ever touch one slot (an engine taken out is owned, not shared, while it runs).
private final class Work: @unchecked Sendable {
    // Raw memory, not an array property: threads writing their own slots of an array held by a
    // class would be overlapping accesses to that one property.
    private let slots: UnsafeMutableBufferPointer<ReactorEngine?>
    var count: Int { slots.count }

    init(shards: [ReactorEngine]) {
        slots = .allocate(capacity: shards.count)
        _ = slots.initialize(from: shards.map { Optional($0) })
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    func take(_ s: Int) -> ReactorEngine {
        defer { slots[s] = nil }
        return slots[s]!
    }

    func put(_ engine: ReactorEngine, at s: Int) { slots[s] = engine }

    func engines() -> [ReactorEngine] { slots.map { $0! } }
}
