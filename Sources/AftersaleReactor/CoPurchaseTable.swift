/// How many customers bought one SKU after another, and for each SKU the SKUs bought after it,
/// most customers first (ties by SKU), kept in that order as counts grow by one.
///
/// SKUs are numbered as they come and the pairs counted by number: a first run in several passes
/// teaches every shard of every pass every pair of the shop (see `ReactorShards`), and counting
/// them in dictionaries of dictionaries keyed by SKU text hashed two texts per pair.
struct CoPurchaseTable: Sendable {
    struct Follower: Sendable, Equatable {
        var sku: Int32
        var count: Int
    }

    /// Each number's SKU.
    private(set) var skus: [String] = []
    private var numbers: [String: Int32] = [:]
    /// Count of each pair (earlier SKU's number in the high half, later one's in the low half).
    private var counts: [Int64: Int] = [:]
    /// By earlier SKU: the SKUs bought after it, in ranking order; nil when nothing was ever
    /// counted after it.
    private var rankings: [[Follower]?] = []

    init() {}

    init(_ counts: [String: [String: Int]]) {
        for (previous, after) in counts.sorted(by: { $0.key < $1.key }) {
            let p = number(previous)
            if rankings[Int(p)] == nil { rankings[Int(p)] = [] }
            for (sku, count) in after.sorted(by: { $0.key < $1.key }) {
                let n = number(sku)
                self.counts[CoPurchaseTable.key(p, n)] = count
                rankings[Int(p)]!.append(Follower(sku: n, count: count))
            }
            let skus = self.skus
            rankings[Int(p)]!.sort { CoPurchaseTable.precedes($0, $1, skus) }
        }
    }

    /// The counts as `ReactorEngine.coPurchases` gives them.
    var asDictionary: [String: [String: Int]] {
        var result: [String: [String: Int]] = [:]
        for (p, ranking) in rankings.enumerated() {
            guard let ranking else { continue }
            result[skus[p]] = Dictionary(uniqueKeysWithValues: ranking.map { (skus[Int($0.sku)], $0.count) })
        }
        return result
    }

    /// The number of `sku`, given one if it has none yet.
    mutating func number(_ sku: String) -> Int32 {
        if let known = numbers[sku] { return known }
        let n = Int32(skus.count)
        skus.append(sku)
        numbers[sku] = n
        rankings.append(nil)
        return n
    }

    /// The SKUs bought after `sku`, most customers first, at most `limit`; nil when nothing was
    /// ever counted after it.
    func ranking(after sku: String, limit: Int) -> [CoPurchase]? {
        guard let p = numbers[sku], let ranking = rankings[Int(p)] else { return nil }
        return ranking.prefix(limit).map { CoPurchase(sku: skus[Int($0.sku)], count: $0.count) }
    }

    /// One more customer bought SKU number `next` after owning number `previous`.
    mutating func learn(_ next: Int32, after previous: Int32) {
        let before = CoPurchaseTable.bump(&counts[CoPurchaseTable.key(previous, next), default: 0])
        let skus = self.skus
        CoPurchaseTable.increment(&rankings[Int(previous)], next, from: before, skus)
    }

    private static func key(_ previous: Int32, _ next: Int32) -> Int64 { Int64(previous) << 32 | Int64(next) }

    /// Adds one where the count is stored; returns the count before (nil: none yet).
    @inline(__always)
    private static func bump(_ count: inout Int) -> Int? {
        defer { count += 1 }
        return count == 0 ? nil : count
    }

    static func precedes(_ a: Follower, _ b: Follower, _ skus: [String]) -> Bool {
        (a.count, skus[Int(b.sku)]) > (b.count, skus[Int(a.sku)])
    }

    /// Moves `sku`, whose count was `before`, up past those it now outranks: found and placed by
    /// binary search (the order is total), the entries between shifted by one.
    private static func increment(_ ranking: inout [Follower]?, _ sku: Int32, from before: Int?, _ skus: [String]) {
        // Taken out of the optional, so that the array is not shared while it is written.
        var entries = ranking.take() ?? []
        defer { ranking = entries }
        var i: Int
        if let before {
            i = entries.partitioningIndex { !precedes($0, Follower(sku: sku, count: before), skus) }
            precondition(i < entries.count && entries[i].sku == sku && entries[i].count == before, "a ranked SKU is where its count puts it")
            entries[i].count += 1
        } else {
            i = entries.count
            entries.append(Follower(sku: sku, count: 1))
        }
        let moved = entries[i]
        let target = entries[..<i].partitioningIndex { precedes(moved, $0, skus) }
        guard target < i else { return }
        entries.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            // The regions overlap: `update(from:count:)` copies in the direction that allows it.
            (base + target + 1).update(from: base + target, count: i - target)
            base[target] = moved
        }
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
