/// A customer's orders by order id: an array kept sorted by id, read like a dictionary.
///
/// Customers have a handful of orders, and the fold looks one up for most events. A binary search
/// over a few ids compares a couple of strings; a `Dictionary` hashes the id every time (dearer
/// than those comparisons) and sorts its entries whenever the state is encoded.
/// Sorted by id, the same orders are always the same array, and are encoded as they stand.
public struct OrderBook: Sendable, Equatable {
    /// The orders, sorted by id.
    public private(set) var values: [OrderState] = []

    public init() {}

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    /// The order ids, sorted.
    public var keys: [String] { values.map(\.id) }

    /// Where the order `id` is, or where it would go to keep the ids sorted.
    @inline(__always)
    private func index(of id: String) -> (index: Int, found: Bool) {
        var low = 0
        var high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle].id < id { low = middle + 1 } else { high = middle }
        }
        return (low, low < values.count && values[low].id == id)
    }

    /// The order `id`; setting nil removes it. An order set is stored under the id it is set for.
    public subscript(id: String) -> OrderState? {
        get {
            let (i, found) = index(of: id)
            return found ? values[i] : nil
        }
        set {
            let (i, found) = index(of: id)
            switch (newValue, found) {
            case (var order?, true):
                order.id = id
                values[i] = order
            case (var order?, false):
                order.id = id
                values.insert(order, at: i)
            case (nil, true):
                values.remove(at: i)
            case (nil, false):
                break
            }
        }
    }

    /// The order `id`, inserted as `defaultValue()` when absent, changed where it is stored. The
    /// order's id is its key: it is not to be changed through here.
    public subscript(id: String, default defaultValue: @autoclosure () -> OrderState) -> OrderState {
        get { self[id] ?? defaultValue() }
        _modify {
            let (i, found) = index(of: id)
            if !found {
                var order = defaultValue()
                order.id = id
                values.insert(order, at: i)
            }
            yield &values[i]
        }
    }

    public mutating func reserveCapacity(_ n: Int) { values.reserveCapacity(n) }
    public var capacity: Int { values.capacity }
    public mutating func removeAll(keepingCapacity: Bool = false) { values.removeAll(keepingCapacity: keepingCapacity) }
}
