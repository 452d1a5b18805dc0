public import AftersaleCore
internal import Dispatch

/// One engine's work split by customer across engines that run at once, and across passes over the
/// log that run one after another, deciding exactly what one engine over everyone decides.
///
/// A customer's state, clock, commands and forecasts are theirs alone, so each shard runs its
/// customers' events and ticks by itself. The one thing customers share is what cross-sell learns:
/// how many customers bought one SKU after another. A shard cannot learn that from its own
/// customers, so the first pass folds every customer's orders (the cheap fold, without plays) into
/// a `CoPurchaseFeed`: each order's co-purchase pairs with the log position that taught them. Every
/// shard counts all the pairs, in log order, before each of its events: its counts at an event are
/// those a single engine would have there, and so are its cross-sell picks. The `model.fitted`
/// events go to every shard.
///
/// Passes bound memory: a pass holds only its customers' states and commands, and a later pass
/// reads the log again with the feed the first one gathered. The caller writes each pass's engine
/// away before the next.
public struct ReactorShards: Sendable {
    private var shards: [ReactorEngine]
    /// Pairs gathered so far (all of them after the first pass).
    public private(set) var feed: CoPurchaseFeed
    /// What the first pass keeps of every customer to gather the feed (their owned SKUs and
    /// orders, `CoPurchaseBuyer`); nil once it is complete. A pass holds its own customers' states
    /// folded; this is the shop's, and a million customers' whole states took gigabytes.
    private var buyers: [String: CoPurchaseBuyer]?
    /// Where each shard is in the feed.
    private var cursors: [Int]
    /// Each shard's numbers for the feed's SKUs and pairs (`CoPurchaseFeed.teach`).
    private var numberings: [CoPurchaseFeed.Numbering]
    private let pass: Int
    private let passes: Int

    /// Splits `engine` into `count` shards (at least one) for `pass` of `passes`: the engine should
    /// hold only that pass's customers (`pass(of:among:)`).
    /// - Parameters:
    ///   - feed: the pairs a first pass gathered, for a later pass; nil gathers them, folding from
    ///     `states` (each customer's state before the run), or from the engine's own customers.
    public init(_ engine: ReactorEngine, count: Int, pass: Int = 0, of passes: Int = 1, feed: CoPurchaseFeed? = nil,
                states: [String: CustomerState]? = nil) {
        let count = max(1, count)
        let passes = max(1, passes)
        shards = engine.split(into: count) { ReactorShards.shard(of: $0, among: count, passes: passes) }
        self.feed = feed ?? CoPurchaseFeed()
        if feed == nil { buyers = (states ?? engine.customers.mapValues(\.state)).mapValues(CoPurchaseBuyer.init) }
        cursors = Array(repeating: 0, count: count)
        numberings = Array(repeating: CoPurchaseFeed.Numbering(), count: count)
        self.pass = pass
        self.passes = passes
    }

    /// A fixed hash (FNV-1a) of a customer's id, the same in every run.
    static func hash(_ customer: String) -> UInt64 { hash(utf8: customer.utf8) }

    static func hash<Bytes: Sequence<UInt8>>(utf8 customer: Bytes) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in customer {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The pass a customer is run in.
    public static func pass(of customer: String, among passes: Int) -> Int {
        passes > 1 ? Int(hash(customer) % UInt64(passes)) : 0
    }

    /// `pass(of:among:)` of a customer id given as its UTF-8, as the log's rows hold it.
    public static func pass(ofUTF8 customer: UnsafeBufferPointer<UInt8>, among passes: Int) -> Int {
        passes > 1 ? Int(hash(utf8: customer) % UInt64(passes)) : 0
    }

    /// The shard of its pass a customer belongs to.
    static func shard(of customer: String, among count: Int, passes: Int = 1) -> Int {
        count > 1 ? Int(hash(customer) / UInt64(max(1, passes)) % UInt64(count)) : 0
    }

    /// Applies a stretch of events in log order (`positions`: their log positions, increasing), as
    /// `ReactorEngine.apply` would one by one for this pass's customers.
    ///
    /// `through`: where the stretch of the log ends, when its last events are other passes' and
    /// were left out (a pass need not decode them): every co-purchase pair up to there is counted,
    /// as if they had been applied. The first pass, which gathers the pairs, must be handed every
    /// order event (`OrderFact`) of every customer; other passes' other events teach nothing.
    public mutating func apply(_ events: [Event], at positions: [Int64], through: Int64? = nil) {
        precondition(events.count == positions.count, "a position for each event")
        guard let end = through ?? positions.last else { return }
        let count = shards.count
        // Which shard runs each event: -1 for every shard (a new model), -2 for none (another pass's).
        var owners = [Int](repeating: -2, count: events.count)
        for (index, event) in events.enumerated() {
            if event.type == .modelFitted {
                owners[index] = -1
                continue
            }
            if ReactorShards.pass(of: event.customer, among: passes) == pass {
                owners[index] = ReactorShards.shard(of: event.customer, among: count, passes: passes)
            }
            if buyers != nil { learn(event, at: positions[index]) }
        }
        let work = Work(shards: shards)
        shards = []
        let (owner, feed, starts) = (owners, self.feed, cursors)
        var ends = cursors
        var numberings = self.numberings
        self.numberings = []
        ends.withUnsafeMutableBufferPointer { ends in
            numberings.withUnsafeMutableBufferPointer { numberings in
                let (ends, numberings) = (UnsafeSendable(ends), UnsafeSendable(numberings))
                DispatchQueue.concurrentPerform(iterations: count) { s in
                    var engine = work.take(s)
                    var numbers = numberings.value[s]
                    var next = starts[s]
                    for (index, event) in events.enumerated() where owner[index] == s || owner[index] == -1 {
                        // Every pair from an earlier event, whoever's it was.
                        next = feed.teach(&engine, from: next, before: positions[index], numbering: &numbers)
                        engine.apply(event)
                    }
                    next = feed.teach(&engine, from: next, before: end + 1, numbering: &numbers)
                    ends.value[s] = next
                    numberings.value[s] = numbers
                    work.put(engine, at: s)
                }
            }
        }
        cursors = ends
        self.numberings = numberings
        shards = work.engines()
    }

    /// The first pass's fold: the same pairs as `ReactorEngine.apply`.
    private mutating func learn(_ event: Event, at position: Int64) {
        guard event.customer != EventType.systemCustomer, let fact = OrderFact(event) else { return }
        let pairs = buyers![event.customer, default: CoPurchaseBuyer()].learn(fact)
        for (previous, sku) in pairs { feed.append(position: position, previous: previous, sku: sku) }
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

    /// The shards' engines as they are, handed over (the shards are left empty): a caller that
    /// saves each engine's changes need not merge them first. The first pass's fold is let go of.
    public mutating func takeEngines() -> [ReactorEngine] {
        buyers = nil
        defer { shards = [] }
        return shards
    }

    /// The shards as one engine again. The feed is complete once the log has been read: the
    /// first pass's fold is let go of.
    public mutating func merged() -> ReactorEngine {
        buyers = nil
        return ReactorEngine.merge(shards)
    }
}

/// What the co-purchase counts need of a customer: the SKUs they own, the orders placed, and those
/// cancelled before they were placed. An order teaches the pairs `ReactorEngine.coPurchases` finds
/// from the customer's whole state, and nothing else in that state changes them.
struct CoPurchaseBuyer: Sendable, Equatable {
    /// Sorted, as `ReactorEngine.coPurchases` sorts them.
    private(set) var owned: [String] = []
    private(set) var placed: [String] = []
    private(set) var cancelledFirst: [String] = []

    init() {}

    init(_ state: CustomerState) {
        owned = state.ownedSKUs.sorted()
        for order in state.orders.values {
            if order.placedAt != nil { placed.append(order.id) } else if order.cancelledAt != nil { cancelledFirst.append(order.id) }
        }
    }

    /// Folds one order event; returns the pairs (an SKU owned before, an SKU new with this order) its
    /// order teaches, in the order `ReactorEngine.coPurchases` gives them.
    mutating func learn(_ fact: OrderFact) -> [(previous: String, sku: String)] {
        switch fact {
        case .cancelled(let order):
            if !placed.contains(order) && !cancelledFirst.contains(order) { cancelledFirst.append(order) }
            return []
        case .placed(let order, let skus):
            // A second placement of one order changes nothing; a placement after its cancellation
            // counts no purchase.
            guard !placed.contains(order) else { return [] }
            placed.append(order)
            if let cancelled = cancelledFirst.firstIndex(of: order) {
                cancelledFirst.remove(at: cancelled)
                return []
            }
            var pairs: [(previous: String, sku: String)] = []
            let previous = owned
            for sku in Set(skus).sorted() where !CoPurchaseBuyer.contains(previous, sku) {
                for earlier in previous { pairs.append((earlier, sku)) }
                owned.insert(sku, at: owned.partitioningIndex { $0 >= sku })
            }
            return pairs
        }
    }

    private static func contains(_ sorted: [String], _ sku: String) -> Bool {
        let i = sorted.partitioningIndex { $0 >= sku }
        return i < sorted.count && sorted[i] == sku
    }
}

/// The co-purchase pairs a stretch of the log teaches, in log order, each with the position of the
/// order that taught it. SKUs and distinct pairs are held once each and the pairs taught as numbers:
/// a first run over a large shop gathers millions, and every shard of every pass is taught them all.
public struct CoPurchaseFeed: Sendable {
    private var positions: [Int64] = []
    /// Each pair taught, by the number of its distinct pair.
    private var taught: [Int32] = []
    /// By distinct pair: its earlier and its later SKU's numbers.
    private var pairEarlier: [Int32] = []
    private var pairLater: [Int32] = []
    private var pairNumbers: [Int64: Int32] = [:]
    private var skus: [String] = []
    private var numbers: [String: Int32] = [:]

    /// An engine's numbers for the feed's SKUs and its slots for the feed's pairs (-1: none yet),
    /// kept by the caller from one `teach` to the next for one engine.
    struct Numbering: Sendable {
        var skus: [Int32] = []
        var pairs: [Int32] = []
    }

    public init() {}

    /// How many pairs.
    public var count: Int { positions.count }

    mutating func append(position: Int64, previous: String, sku: String) {
        let (p, n) = (number(previous), number(sku))
        let key = CoPurchaseTable.pairKey(n, after: p)
        let pair: Int32
        if let known = pairNumbers[key] { pair = known } else {
            pair = Int32(pairEarlier.count)
            pairEarlier.append(p)
            pairLater.append(n)
            pairNumbers[key] = pair
        }
        positions.append(position)
        taught.append(pair)
    }

    private mutating func number(_ sku: String) -> Int32 {
        if let known = numbers[sku] { return known }
        let n = Int32(skus.count)
        skus.append(sku)
        numbers[sku] = n
        return n
    }

    /// Teaches `engine` the pairs from index `start` whose order came before `position`; returns
    /// where it stopped. `numbering`: the engine's numbers and slots found so far, kept by the caller
    /// from one call to the next (for one engine, which must not have its `coPurchases` set
    /// meanwhile): a pair taught before is one count added at its slot.
    func teach(_ engine: inout ReactorEngine, from start: Int, before position: Int64, numbering: inout Numbering) -> Int {
        var i = start
        if numbering.skus.count < skus.count { numbering.skus.append(contentsOf: repeatElement(-1, count: skus.count - numbering.skus.count)) }
        if numbering.pairs.count < pairEarlier.count {
            numbering.pairs.append(contentsOf: repeatElement(-1, count: pairEarlier.count - numbering.pairs.count))
        }
        while i < positions.count, positions[i] < position {
            let pair = Int(taught[i])
            let slot = numbering.pairs[pair]
            if slot >= 0 {
                engine.learnCoPurchase(slot: slot)
            } else {
                let (p, n) = (Int(pairEarlier[pair]), Int(pairLater[pair]))
                if numbering.skus[p] < 0 { numbering.skus[p] = engine.coPurchaseNumber(of: skus[p]) }
                if numbering.skus[n] < 0 { numbering.skus[n] = engine.coPurchaseNumber(of: skus[n]) }
                numbering.pairs[pair] = engine.learnCoPurchase(ofNumber: numbering.skus[n], afterNumber: numbering.skus[p])
            }
            i += 1
        }
        return i
    }
}

/// A value handed to the threads of one `concurrentPerform`, each touching its own part of it.
private struct UnsafeSendable<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
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
