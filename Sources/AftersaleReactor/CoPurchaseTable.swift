/// How many customers bought one SKU after another, and for each SKU the SKUs bought after it,
/// most customers first (ties by SKU).
///
/// SKUs are numbered as they come, and each pair counted gets a slot: a first run in several passes
/// teaches every shard of every pass every pair of the shop (see `ReactorShards`), so learning a
/// pair is one count added at its slot. The ranking is made when it is read, from the earlier SKU's
/// counts: a shop's run reads far fewer rankings (at an order or a delivery of one pass's customers)
/// than it learns pairs (every customer's, in every pass), and keeping each ranking in order as it
/// learned cost a search of the ranking per pair.
///
/// It remembers each pair's count as last stored, so that a save writes the pairs whose counts
/// changed (`takeChangedPairs`), not the whole table: the service saves after every step, and the
/// table grows with the catalogue's pairs, not with the step.
public struct CoPurchaseTable: Sendable {
    struct Follower: Sendable, Equatable {
        var sku: Int32
        var count: Int
    }

    /// Each number's SKU.
    private(set) var skus: [String] = []
    private var numbers: [String: Int32] = [:]
    /// By slot: the pair's earlier and later SKU, and how many customers bought it after the earlier one.
    private var earlier: [Int32] = []
    private var later: [Int32] = []
    private var counts: [Int] = []
    /// By slot: the count as last stored; slots made since are not here (stored as none).
    private var storedCounts: [Int] = []
    /// Each pair's slot, by `pairKey`.
    private var slots: [Int64: Int32] = [:]
    /// By earlier SKU: the slots of the SKUs counted after it, in the order they were first counted;
    /// empty when nothing was ever counted after it.
    private var followers: [[Int32]] = []

    init() {}

    /// Counts as stored: none of them is a change.
    init(_ counts: [String: [String: Int]]) {
        for (previous, after) in counts.sorted(by: { $0.key < $1.key }) {
            for (sku, count) in after.sorted(by: { $0.key < $1.key }) { add(previous: previous, sku: sku, count: count) }
        }
        storedCounts = self.counts
    }

    /// Counts as stored, pair by pair (each pair once): none of them is a change.
    public init(stored pairs: some Sequence<CoPurchasePair>) {
        for pair in pairs { add(previous: pair.previous, sku: pair.sku, count: pair.count) }
        storedCounts = counts
    }

    private mutating func add(previous: String, sku: String, count: Int) {
        guard count > 0 else { return }
        let p = number(previous)
        let slot = self.slot(number(sku), after: p)
        counts[Int(slot)] = count
    }

    /// The pairs whose counts changed since the table was made or this was last called, with their
    /// counts now, in the order they were first counted; from then on those counts are the stored ones.
    public mutating func takeChangedPairs() -> [CoPurchasePair] {
        var changed: [CoPurchasePair] = []
        for slot in counts.indices {
            let stored = slot < storedCounts.count ? storedCounts[slot] : 0
            guard counts[slot] != stored else { continue }
            changed.append(CoPurchasePair(previous: skus[Int(earlier[slot])], sku: skus[Int(later[slot])], count: counts[slot]))
            if slot < storedCounts.count { storedCounts[slot] = counts[slot] }
        }
        if storedCounts.count < counts.count { storedCounts.append(contentsOf: counts[storedCounts.count...]) }
        return changed
    }

    /// The counts as `ReactorEngine.coPurchases` gives them.
    var asDictionary: [String: [String: Int]] {
        var result: [String: [String: Int]] = [:]
        for (p, slots) in followers.enumerated() where !slots.isEmpty {
            result[skus[p]] = Dictionary(uniqueKeysWithValues: slots.map { (skus[Int(later[Int($0)])], counts[Int($0)]) })
        }
        return result
    }

    /// The number of `sku`, given one if it has none yet.
    mutating func number(_ sku: String) -> Int32 {
        if let known = numbers[sku] { return known }
        let n = Int32(skus.count)
        skus.append(sku)
        numbers[sku] = n
        followers.append([])
        return n
    }

    /// The SKUs bought after `sku`, most customers first (ties by SKU), at most `limit`; nil when
    /// nothing was ever counted after it.
    func ranking(after sku: String, limit: Int) -> [CoPurchase]? {
        guard let p = numbers[sku], !followers[Int(p)].isEmpty else { return nil }
        guard limit > 0 else { return [] }
        // The best `limit` in ranking order, each new one placed by binary search among them; most
        // are outranked by the last kept and go no further.
        var top: [Follower] = []
        top.reserveCapacity(min(limit, followers[Int(p)].count))
        for slot in followers[Int(p)] {
            let follower = Follower(sku: later[Int(slot)], count: counts[Int(slot)])
            if top.count == limit {
                guard precedes(follower, top[limit - 1]) else { continue }
                top.removeLast()
            }
            top.insert(follower, at: top.partitioningIndex { precedes(follower, $0) })
        }
        return top.map { CoPurchase(sku: skus[Int($0.sku)], count: $0.count) }
    }

    /// One more customer bought SKU number `next` after owning number `previous`; returns the
    /// pair's slot (`learn(slot:)`), the same until the table is made again.
    @discardableResult
    mutating func learn(_ next: Int32, after previous: Int32) -> Int32 {
        let slot = self.slot(next, after: previous)
        counts[Int(slot)] += 1
        return slot
    }

    /// One more customer bought the pair at `slot` in its order.
    mutating func learn(slot: Int32) {
        counts[Int(slot)] += 1
    }

    /// The pair's slot, made with no count when it has none (a count must follow: a follower with
    /// none would be ranked).
    private mutating func slot(_ next: Int32, after previous: Int32) -> Int32 {
        let key = CoPurchaseTable.pairKey(next, after: previous)
        if let known = slots[key] { return known }
        let slot = Int32(counts.count)
        earlier.append(previous)
        later.append(next)
        counts.append(0)
        slots[key] = slot
        followers[Int(previous)].append(slot)
        return slot
    }

    /// One key for a pair of SKU numbers: the earlier's in the high half, the later's in the low half.
    static func pairKey(_ next: Int32, after previous: Int32) -> Int64 { Int64(previous) << 32 | Int64(next) }

    /// Whether `a` ranks before `b`: more customers, then the SKU first in text order.
    private func precedes(_ a: Follower, _ b: Follower) -> Bool {
        a.count != b.count ? a.count > b.count : skus[Int(a.sku)] < skus[Int(b.sku)]
    }
}

/// One pair's count: how many customers bought `sku` after owning `previous`.
public struct CoPurchasePair: Sendable, Equatable {
    public var previous: String
    public var sku: String
    public var count: Int

    public init(previous: String, sku: String, count: Int) {
        self.previous = previous
        self.sku = sku
        self.count = count
    }
}

extension RandomAccessCollection {
    /// The first index whose element satisfies `test`, which holds for a suffix of the elements
    /// (and not before it): found by binary search. `endIndex` when none does.
    func partitioningIndex(where test: (Element) -> Bool) -> Index {
        var (low, count) = (startIndex, self.count)
        while count > 0 {
            let half = count / 2
            let mid = index(low, offsetBy: half)
            if test(self[mid]) { count = half } else {
                low = index(after: mid)
                count -= half + 1
            }
        }
        return low
    }
}
