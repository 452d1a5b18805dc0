/// The kinds of event the simulator emits.
enum EventKind: UInt8, Sendable {
    case registered, updated, placed, cancelled, dispatched, failed, delivered
    case unboxing, returnRequested, returnRefunded, reviewPosted, reviewReplied

    var typeName: StaticString {
        switch self {
        case .registered: "customer.registered"
        case .updated: "customer.updated"
        case .placed: "order.placed"
        case .cancelled: "order.cancelled"
        case .dispatched: "shipment.dispatched"
        case .failed: "shipment.failed"
        case .delivered: "shipment.delivered"
        case .unboxing: "unboxing.recorded"
        case .returnRequested: "return.requested"
        case .returnRefunded: "return.refunded"
        case .reviewPosted: "review.posted"
        case .reviewReplied: "review.replied"
        }
    }
}

/// A scheduled event: plain data, rendered to JSON only when it is popped.
struct PendingEvent: Sendable {
    var at: Int64
    var sequence: UInt64 = 0
    var customer: UInt32
    var order: UInt32 = 0
    var kind: EventKind
    /// Rating (1-5) for reviews, replies and unboxings.
    var rating: UInt8 = 0
    /// Line index (0-based) for reviews and replies.
    var line: UInt8 = 0
    /// Unboxing shared on social media.
    var flag: Bool = false
    /// Customer-state slot of an `order.placed`.
    var slot: UInt32 = 0
    /// Product indices + 1 in four 16-bit lanes (returns), or one product index (reviews).
    var products: UInt64 = 0
    /// Quantities in four 8-bit lanes (returns).
    var quantities: UInt32 = 0
    /// Order total or refund amount in cents.
    var amount: Int64 = 0

    @inline(__always)
    static func precedes(_ lhs: PendingEvent, _ rhs: PendingEvent) -> Bool {
        lhs.at < rhs.at || (lhs.at == rhs.at && lhs.sequence < rhs.sequence)
    }
}

/// A four-ary min-heap (shallower than binary, fewer cache misses) of pending events ordered by (instant, scheduling sequence).
struct EventHeap: Sendable {
    private var items: [PendingEvent] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }
    var first: PendingEvent? { items.first }

    mutating func push(_ event: PendingEvent) {
        items.append(event)
        items.withUnsafeMutableBufferPointer { heap in
            var child = heap.count - 1
            let moving = heap[child]
            while child > 0 {
                let parent = (child - 1) >> 2
                guard PendingEvent.precedes(moving, heap[parent]) else { break }
                heap[child] = heap[parent]
                child = parent
            }
            heap[child] = moving
        }
    }

    mutating func pop() -> PendingEvent? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items.withUnsafeMutableBufferPointer { heap in
            let count = heap.count
            var parent = 0
            while true {
                let firstChild = 4 * parent + 1
                if firstChild >= count { break }
                var child = firstChild
                let lastChild = Swift.min(firstChild + 4, count)
                var candidate = firstChild + 1
                while candidate < lastChild {
                    if PendingEvent.precedes(heap[candidate], heap[child]) { child = candidate }
                    candidate += 1
                }
                guard PendingEvent.precedes(heap[child], last) else { break }
                heap[parent] = heap[child]
                parent = child
            }
            heap[parent] = last
        }
        return top
    }
}
