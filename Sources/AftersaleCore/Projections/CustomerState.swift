/// Everything the log says about one customer, folded from their events in log order.
///
/// A pure value: `CustomerState.apply(_:)` is the whole projection. Time-dependent judgements
/// (lifecycle stage, overdue orders) are made at query time from this state and a clock.
public struct CustomerState: Sendable, Equatable {
    public var customer: String

    // Profile
    public var email: String?
    public var name: String?
    public var birthday: Birthday?
    /// The birthday as sealed at ingest (`PersonalData`): only a holder of the customer's key reads
    /// it (`ReactorContext.birthday(of:)`). Set instead of `birthday` when the log seals personal data.
    public var sealedBirthday: String?
    /// IANA time zone name.
    public var timeZone: String?
    /// Channel -> consented. A channel never mentioned is absent (treated as not consented).
    public var consent: [String: Bool] = [:]
    public var registeredAt: Timestamp?

    // Orders
    /// Orders still in flight or recently closed, by order id (see `OrderState.isSettled`).
    public var orders = OrderBook()
    /// Orders placed and not cancelled.
    public var orderCount = 0
    /// Items (line quantities) in those orders.
    public var itemCount = 0
    public var firstOrderAt: Timestamp?
    public var lastOrderAt: Timestamp?
    /// Per currency: the value of orders placed, cancelled and refunded.
    public var placedValue = MoneyByCurrency()
    public var cancelledValue = MoneyByCurrency()
    public var refundedValue = MoneyByCurrency()
    /// Distinct UTC days with a (not cancelled) order and that day's value in minor units of
    /// `primaryCurrency`: the input of the buy-till-you-die models.
    public var purchaseDays: [PurchaseDay] = []
    /// The code of the customer's first order's currency, as the fold compares and the codecs
    /// store it (no currency table lookup per order); read as `primaryCurrency`.
    package var primaryCurrencyCode: String?
    /// SKUs the customer has bought (for cross-sell exclusion and replenishment).
    public var ownedSKUs: Set<String> = []

    // Returns
    public var returnsRequested = 0
    public var returnsRefunded = 0
    /// Return ids requested and not yet refunded.
    public var openReturns: Set<String> = []

    // Reviews
    public var reviewCount = 0
    public var lastRating: Int?
    public var reviewedSKUs: Set<String> = []
    /// Reviews with rating <= 2 that have no `review.replied` yet.
    public var unansweredNegativeReviews: Set<String> = []
    /// All reviews without a reply yet, by review id -> rating.
    public var unansweredReviews: [String: Int] = [:]

    // Unboxing and delivery
    public var unboxingsShared = 0
    public var deliveryFailures = 0

    /// When the customer was last forgotten (`customer.forgotten`): their personal data reads as erased.
    public var forgottenAt: Timestamp?

    /// When the last event about this customer happened.
    public var lastEventAt: Timestamp?
    /// How many events were folded.
    public var eventCount = 0

    public init(customer: String) { self.customer = customer }

    public struct PurchaseDay: Sendable, Equatable {
        /// Days since 1970-01-01, UTC.
        public var day: Int64
        /// Value of the day's orders in minor units of the customer's primary currency.
        public var value: Int64
        public init(day: Int64, value: Int64) {
            self.day = day
            self.value = value
        }
    }
}

/// One order as the customer's events describe it; events may arrive before `order.placed`.
public struct OrderState: Sendable, Equatable {
    public var id: String
    public var placedAt: Timestamp?
    public var total: Int64?
    public var currency: String?
    /// The lines as `EventFacts` writes them (a count, then each line's sku, quantity, price,
    /// category and name), empty for none. A fold copies an order's lines as these bytes instead
    /// of making Strings of every line (a rebuild's largest cost), and the codec stores them as
    /// they are; `lines` decodes them. `ByteWriter`'s encoding is canonical: equal lines, equal bytes.
    public fileprivate(set) var encodedLines: [UInt8] = []
    public var cancelledAt: Timestamp?
    public var dispatchedAt: Timestamp?
    /// The shipment's carrier, tracking number and estimated delivery as `EventFacts` writes them
    /// (three optional strings, in that order), empty when none is known. Kept as bytes like the
    /// lines: a dispatch copies one block instead of making (and later freeing) up to three
    /// Strings, and the codec copies it back out. Canonical: equal fields, equal bytes.
    public fileprivate(set) var encodedShipment: [UInt8] = []
    public var deliveredAt: Timestamp?
    public var failedAt: Timestamp?
    public var returnRequestedAt: Timestamp?
    public var refundedAt: Timestamp?

    public init(id: String) { self.id = id }

    /// The order's lines.
    public var lines: [OrderLine] {
        get {
            guard !encodedLines.isEmpty else { return [] }
            return encodedLines.withUnsafeBytes { raw in
                var r = ByteReader(raw)
                do {
                    let count = try r.unsigned()
                    var lines: [OrderLine] = []
                    lines.reserveCapacity(Int(count))
                    for _ in 0..<count {
                        lines.append(OrderLine(sku: try r.string(), quantity: try r.int(), price: try r.signed(),
                                               category: try r.optionalString(), name: try r.optionalString()))
                    }
                    return lines
                } catch {
                    preconditionFailure("order lines checked when read do not decode: \(error)")
                }
            }
        }
        set {
            guard !newValue.isEmpty else { return encodedLines = [] }
            var w = ByteWriter(capacity: 48 * newValue.count)
            w.unsigned(UInt64(newValue.count))
            for line in newValue {
                OrderLine.write(sku: line.sku, quantity: line.quantity, price: line.price, category: line.category, name: line.name, &w)
            }
            encodedLines = w.bytes
        }
    }

    /// Reads a block of lines in `EventFacts`' form from `r` (checking every field is there) and
    /// keeps its bytes as this order's lines.
    public mutating func readLines(_ r: inout ByteReader) throws(BinaryDecodingError) {
        encodedLines = try OrderState.readEncodedLines(&r)
    }

    /// A block of lines in `EventFacts`' form read from `r`, checked, as bytes (empty for none).
    static func readEncodedLines(_ r: inout ByteReader) throws(BinaryDecodingError) -> [UInt8] {
        let start = r.offset
        let count = try r.unsigned()
        for _ in 0..<count {
            try r.skipString()
            _ = try r.unsigned()
            _ = try r.unsigned()
            try r.skipOptionalString()
            try r.skipOptionalString()
        }
        return count == 0 ? [] : r.bytes(from: start)
    }

    /// Writes the lines in the form `readLines` reads.
    public func writeLines(_ w: inout ByteWriter) {
        if encodedLines.isEmpty { w.unsigned(0) } else { w.append(encodedLines) }
    }

    /// Calls `body` with each line's SKU and quantity (without decoding prices, categories, names).
    public func forEachItem(_ body: (_ sku: String, _ quantity: Int) -> Void) {
        OrderState.forEachItem(in: encodedLines, body)
    }

    static func forEachItem(in encodedLines: [UInt8], _ body: (_ sku: String, _ quantity: Int) -> Void) {
        guard !encodedLines.isEmpty else { return }
        encodedLines.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            do {
                for _ in 0..<(try r.unsigned()) {
                    let sku = try r.string()
                    let quantity = try r.int()
                    _ = try r.unsigned()
                    try r.skipOptionalString()
                    try r.skipOptionalString()
                    body(sku, quantity)
                }
            } catch {
                preconditionFailure("order lines checked when read do not decode: \(error)")
            }
        }
    }

    /// The sum of the lines' quantities.
    public var itemQuantity: Int {
        var total = 0
        forEachItem { _, quantity in total += quantity }
        return total
    }

    public var carrier: String? {
        get { shipment.carrier }
        set { setShipment(carrier: newValue, tracking: tracking, estimatedDelivery: estimatedDelivery) }
    }
    public var tracking: String? {
        get { shipment.tracking }
        set { setShipment(carrier: carrier, tracking: newValue, estimatedDelivery: estimatedDelivery) }
    }
    public var estimatedDelivery: String? {
        get { shipment.estimatedDelivery }
        set { setShipment(carrier: carrier, tracking: tracking, estimatedDelivery: newValue) }
    }

    private var shipment: (carrier: String?, tracking: String?, estimatedDelivery: String?) {
        guard !encodedShipment.isEmpty else { return (nil, nil, nil) }
        return encodedShipment.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            do {
                return (try r.optionalString(), try r.optionalString(), try r.optionalString())
            } catch {
                preconditionFailure("a shipment block checked when read does not decode: \(error)")
            }
        }
    }

    private mutating func setShipment(carrier: String?, tracking: String?, estimatedDelivery: String?) {
        guard carrier != nil || tracking != nil || estimatedDelivery != nil else { return encodedShipment = [] }
        var w = ByteWriter(capacity: 48)
        w.optionalString(carrier)
        w.optionalString(tracking)
        w.optionalString(estimatedDelivery)
        encodedShipment = w.bytes
    }

    /// Reads a shipment block in `EventFacts`' form (carrier, tracking, estimated delivery; each
    /// optional) from `r` and folds it in: a field given replaces the one known, one not given
    /// leaves it. A first dispatch, or one that gives all three, keeps the block's bytes as they are.
    public mutating func readShipment(_ r: inout ByteReader) throws(BinaryDecodingError) {
        let start = r.offset
        let given = (try r.skipOptionalString(), try r.skipOptionalString(), try r.skipOptionalString())
        guard given.0 || given.1 || given.2 else { return }
        let block = r.bytes(from: start)
        if encodedShipment.isEmpty || (given.0 && given.1 && given.2) { return encodedShipment = block }
        let known = shipment
        let sent = OrderState(id: id, encodedShipment: block).shipment
        setShipment(carrier: sent.carrier ?? known.carrier, tracking: sent.tracking ?? known.tracking,
                    estimatedDelivery: sent.estimatedDelivery ?? known.estimatedDelivery)
    }

    private init(id: String, encodedShipment: [UInt8]) {
        self.id = id
        self.encodedShipment = encodedShipment
    }

    /// Placed and not cancelled, and not yet delivered (or returned).
    public var isOpen: Bool { placedAt != nil && cancelledAt == nil && deliveredAt == nil && returnRequestedAt == nil }
    /// Dispatched and not yet delivered.
    public var isShipmentOpen: Bool { dispatchedAt != nil && deliveredAt == nil && cancelledAt == nil }
}

public struct OrderLine: Sendable, Equatable {
    public var sku: String
    public var quantity: Int
    /// Unit price in minor units.
    public var price: Int64
    public var category: String?
    public var name: String?

    public init(sku: String, quantity: Int, price: Int64, category: String? = nil, name: String? = nil) {
        self.sku = sku
        self.quantity = quantity
        self.price = price
        self.category = category
        self.name = name
    }

    /// Writes one line in the form stored in facts and states (after a count of lines): the one
    /// place that says what a line's bytes are, with `OrderState`'s readers of them.
    public static func write<Text: StoredText>(sku: Text, quantity: Int, price: Int64, category: Text?, name: Text?, _ w: inout ByteWriter) {
        w.string(sku)
        w.int(quantity)
        w.signed(price)
        w.optionalString(category)
        w.optionalString(name)
    }
}

extension CustomerState {
    /// Folds one event into the state. Events of other customers are ignored.
    public mutating func apply(_ event: Event) {
        guard event.customer == customer else { return }
        let facts = EventFacts.encode(event)
        // Facts just encoded always decode.
        facts.withUnsafeBytes { bytes in
            do { try apply(facts: bytes) } catch { preconditionFailure("facts just encoded do not decode: \(error)") }
        }
    }

    /// Folds one event given as its stored facts (`EventFacts`): the whole projection.
    public mutating func apply(facts: UnsafeRawBufferPointer) throws(BinaryDecodingError) {
        var r = ByteReader(facts)
        let code = try r.byte()
        guard code != 0 else { return }  // an event whose schema cannot be upcast: the fold ignores it
        guard let type = EventFacts.type(code: code) else { throw BinaryDecodingError("unknown event code \(code)") }
        let at = Timestamp(millis: try r.signed(), offsetMinutes: try r.int())
        eventCount += 1
        if lastEventAt.map({ at > $0 }) ?? true { lastEventAt = at }

        switch type {
        case .customerRegistered, .customerUpdated:
            if type == .customerRegistered, registeredAt == nil { registeredAt = at }
            if let v = try r.optionalString() { email = v }
            if let v = try r.optionalString() { name = v }
            switch try EventFacts.storedBirthday(&r) {
            case .absent: break
            case .notADate: (birthday, sealedBirthday) = (nil, nil)
            case .date(let b): (birthday, sealedBirthday) = (b, nil)
            case .sealed(let token): (birthday, sealedBirthday) = (nil, token)
            }
            if let v = try r.optionalString() { timeZone = v }
            let channels = try r.unsigned()
            if channels > 0 { consent.reserveCapacity(consent.count + Int(channels)) }
            for _ in 0..<channels {
                let channel = try r.string()
                consent[channel] = try r.bool()
            }

        case .orderPlaced:
            guard let id = try r.optionalString() else { return }
            let currency = try r.string()
            let total = try r.optionalSigned()
            let lines = try OrderState.readEncodedLines(&r)
            // The order is changed where it is stored: one lookup, no copy of it.
            let counted = modify(&orders[id, default: OrderState(id: id)]) { o -> Bool in
                guard o.placedAt == nil else { return false }  // a second placement of one order is ignored
                o.placedAt = at
                o.currency = currency
                o.total = total
                o.encodedLines = lines
                return o.cancelledAt == nil
            }
            if counted { countOrder(placedAt: at, currency: currency, total: total, lines: lines) }

        case .orderCancelled:
            guard let id = try r.optionalString() else { return }
            var o = orders[id] ?? OrderState(id: id)
            guard o.cancelledAt == nil else { return }
            o.cancelledAt = at
            orders[id] = o
            if o.placedAt != nil { uncountOrder(o) }

        case .shipmentDispatched:
            guard let id = try r.optionalString() else { return }
            try modify(&orders[id, default: OrderState(id: id)]) { (o) throws(BinaryDecodingError) in
                if o.dispatchedAt == nil { o.dispatchedAt = at }
                try o.readShipment(&r)
            }

        case .shipmentDelivered:
            guard let id = try r.optionalString() else { return }
            modify(&orders[id, default: OrderState(id: id)]) { o in if o.deliveredAt == nil { o.deliveredAt = at } }

        case .shipmentFailed:
            guard let id = try r.optionalString() else { return }
            orders[id, default: OrderState(id: id)].failedAt = at
            deliveryFailures += 1

        case .unboxingRecorded:
            if try r.bool() { unboxingsShared += 1 }

        case .returnRequested:
            guard let returnID = try r.optionalString(), !openReturns.contains(returnID) else { return }
            returnsRequested += 1
            openReturns.insert(returnID)
            if let id = try r.optionalString() {
                modify(&orders[id, default: OrderState(id: id)]) { o in if o.returnRequestedAt == nil { o.returnRequestedAt = at } }
            }

        case .returnRefunded:
            openReturns.remove(try r.optionalString() ?? "")
            returnsRefunded += 1
            let code = try r.string()
            if let amount = try r.optionalSigned() { CustomerState.add(amount, to: &refundedValue.minorUnits, currency: code) }
            if let id = try r.optionalString() { orders[id, default: OrderState(id: id)].refundedAt = at }

        case .reviewPosted:
            let reviewID = try r.optionalString()
            let rating = try r.optionalSigned()
            guard let review = reviewID, let rating = rating.map({ Int($0) }) else { return }
            reviewCount += 1
            lastRating = rating
            if let sku = try r.optionalString() { reviewedSKUs.insert(sku) }
            unansweredReviews[review] = rating
            if rating <= 2 { unansweredNegativeReviews.insert(review) }

        case .reviewReplied:
            guard let review = try r.optionalString() else { return }
            unansweredReviews[review] = nil
            unansweredNegativeReviews.remove(review)

        case .customerForgotten:
            // What identified or reached the person goes; the facts of their orders stay. Without
            // consent on any channel no play contacts them again.
            (email, name, birthday, sealedBirthday) = (nil, nil, nil, nil)
            consent.removeAll()
            forgottenAt = at

        case .modelFitted, .actionDispatched, .actionSuppressed, .privacyRequested:
            break
        }
    }

    private mutating func countOrder(placedAt at: Timestamp, currency: String, total: Int64?, lines: [UInt8]) {
        orderCount += 1
        OrderState.forEachItem(in: lines) { sku, quantity in
            itemCount += quantity
            ownedSKUs.insert(sku)
        }
        if firstOrderAt.map({ at < $0 }) ?? true { firstOrderAt = at }
        if lastOrderAt.map({ at > $0 }) ?? true { lastOrderAt = at }
        CustomerState.add(total ?? 0, to: &placedValue.minorUnits, currency: currency)
        if primaryCurrencyCode == nil { primaryCurrencyCode = currency }
        if currency == primaryCurrencyCode { addPurchase(day: at.utcDay, value: total ?? 0) }
    }

    /// Applies `body` to a value in place (an order through `OrderBook`'s `default:` subscript is
    /// changed where it is stored, with one lookup).
    @inline(__always)
    private func modify<T, R, E>(_ value: inout T, _ body: (inout T) throws(E) -> R) throws(E) -> R { try body(&value) }

    private mutating func uncountOrder(_ o: OrderState) {
        guard let at = o.placedAt else { return }
        orderCount -= 1
        itemCount -= o.itemQuantity
        let code = o.currency ?? ""
        CustomerState.add(o.total ?? 0, to: &cancelledValue.minorUnits, currency: code)
        if code == primaryCurrencyCode { addPurchase(day: at.utcDay, value: -(o.total ?? 0), cancelling: true) }
        recomputeOrderSpan()
    }

    /// Adds to a sum per currency. Most customers pay in one currency: while the map holds that one
    /// alone, the sum is changed where it is, without hashing the code as a lookup would.
    @inline(__always)
    private static func add(_ amount: Int64, to sums: inout [String: Int64], currency: String) {
        if sums.count == 1, sums[sums.startIndex].key == currency {
            sums.values[sums.startIndex] += amount
        } else {
            sums[currency, default: 0] += amount
        }
    }

    private mutating func addPurchase(day: Int64, value: Int64, cancelling: Bool = false) {
        // purchaseDays stays sorted by day; most additions are at the end.
        var index = purchaseDays.endIndex
        while index > purchaseDays.startIndex, purchaseDays[index - 1].day > day { index -= 1 }
        if index > purchaseDays.startIndex, purchaseDays[index - 1].day == day {
            purchaseDays[index - 1].value += value
            if cancelling, !orders.values.contains(where: { $0.placedAt?.utcDay == day && $0.cancelledAt == nil && $0.currency == primaryCurrencyCode }) {
                purchaseDays.remove(at: index - 1)
            }
        } else if !cancelling {
            purchaseDays.insert(PurchaseDay(day: day, value: value), at: index)
        }
    }

    private mutating func recomputeOrderSpan() {
        let placed = orders.values.filter { $0.placedAt != nil && $0.cancelledAt == nil }.compactMap(\.placedAt)
        firstOrderAt = placed.min()
        lastOrderAt = placed.max()
    }

    /// The currency of the customer's first order: what value models are fitted in.
    public var primaryCurrency: Currency? {
        get { primaryCurrencyCode.flatMap(Currency.init(code:)) }
        set { primaryCurrencyCode = newValue?.code }
    }

    /// Net historical value per currency: orders minus cancellations minus refunds.
    public var netValue: MoneyByCurrency { placedValue - cancelledValue - refundedValue }

    /// Net historical value in the primary currency; nil before the first order.
    public var historicalValue: Money? {
        // `netValue[currency]` without building the three tables' differences: the plays ask at every tick.
        primaryCurrency.map { currency in
            let code = currency.code
            var units = placedValue.minorUnits[code, default: 0]
            units -= cancelledValue.minorUnits[code, default: 0]
            units -= refundedValue.minorUnits[code, default: 0]
            return Money(minorUnits: units, currency: currency)
        }
    }

    /// Orders placed, not cancelled, not yet delivered.
    public var openOrders: [OrderState] { orders.values.filter(\.isOpen).sorted { ($0.placedAt ?? .init(millis: 0)) < ($1.placedAt ?? .init(millis: 0)) } }
    public var openShipments: Int { orders.values.filter(\.isShipmentOpen).count }

    /// Mean order value in the primary currency, over that currency's orders not cancelled.
    public var averageOrderValue: Money? {
        guard let currency = primaryCurrency else { return nil }
        // Counted, not filtered into a list of copies of the orders: the contact policy asks at every decision it weighs.
        var count = 0
        for order in orders.values where order.placedAt != nil && order.cancelledAt == nil && order.currency == currency.code { count += 1 }
        guard count > 0 else { return nil }
        return Money(minorUnits: (placedValue[currency].minorUnits - cancelledValue[currency].minorUnits) / Int64(count), currency: currency)
    }

    /// Mean days between distinct purchase days; nil with fewer than two.
    public var averageDaysBetweenOrders: Double? {
        guard purchaseDays.count >= 2 else { return nil }
        return Double(purchaseDays.last!.day - purchaseDays.first!.day) / Double(purchaseDays.count - 1)
    }
}

extension CustomerState {
    /// Starts over as a new customer's empty state, in place, keeping small collections' storage: a
    /// rebuild folds customers one after another, and neither allocating and freeing a dozen
    /// collections per customer nor copying a whole state into place saves a visible share of its
    /// instructions. Large ones are let go: iterating a map costs its capacity, not its
    /// count. Every stored property is reset here (a test checks the result equals a new state for
    /// a sample that sets every property).
    public mutating func reset(customer: String) {
        func clear<K, V>(_ map: inout [K: V]) {
            if map.capacity <= 32 { map.removeAll(keepingCapacity: true) } else { map = [:] }
        }
        func clear<E>(_ set: inout Set<E>) {
            if set.capacity <= 32 { set.removeAll(keepingCapacity: true) } else { set = [] }
        }
        self.customer = customer
        email = nil
        name = nil
        birthday = nil
        sealedBirthday = nil
        forgottenAt = nil
        timeZone = nil
        clear(&consent)
        registeredAt = nil
        orders.removeAll(keepingCapacity: orders.capacity <= 32)
        orderCount = 0
        itemCount = 0
        firstOrderAt = nil
        lastOrderAt = nil
        clear(&placedValue.minorUnits)
        clear(&cancelledValue.minorUnits)
        clear(&refundedValue.minorUnits)
        purchaseDays.removeAll(keepingCapacity: purchaseDays.capacity <= 32)
        primaryCurrencyCode = nil
        clear(&ownedSKUs)
        returnsRequested = 0
        returnsRefunded = 0
        clear(&openReturns)
        reviewCount = 0
        lastRating = nil
        clear(&reviewedSKUs)
        clear(&unansweredNegativeReviews)
        clear(&unansweredReviews)
        unboxingsShared = 0
        deliveryFailures = 0
        lastEventAt = nil
        eventCount = 0
    }
}
