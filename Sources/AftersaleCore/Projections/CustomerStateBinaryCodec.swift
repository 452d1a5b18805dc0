public import AftersaleCore

/// How the `customers` read model stores a `CustomerState`: compact binary, far smaller than the
/// JSON form and far faster to write and read back. Maps and sets are written
/// in sorted order, so the same state is always the same bytes.
public enum CustomerStateBinaryCodec {
    /// The first byte of every stored state; bump on any change (a rebuild rewrites the rows).
    public static let formatVersion: UInt8 = 1

    public static func encode(_ s: CustomerState) -> [UInt8] {
        var w = ByteWriter(capacity: 256 + 96 * s.orders.count)
        encode(s, into: &w)
        return w.bytes
    }

    /// Appends the state's bytes to `w` (a rebuild writes a whole chunk of customers into one buffer).
    public static func encode(_ s: CustomerState, into w: inout ByteWriter) {
        w.byte(formatVersion)
        w.string(s.customer)
        w.optionalString(s.email)
        w.optionalString(s.name)
        EventFacts.writeBirthday(s.birthday, sealed: s.sealedBirthday, &w)
        w.optionalString(s.timeZone)
        w.unsigned(UInt64(s.consent.count))
        forEachSortedByKey(s.consent) { channel, consented in
            w.string(channel)
            w.bool(consented)
        }
        timestamp(s.registeredAt, &w)
        w.unsigned(UInt64(s.orders.count))
        for i in s.orders.values.indices { encode(s.orders.values[i], &w) }  // borrowed, not copied
        w.int(s.orderCount)
        w.int(s.itemCount)
        timestamp(s.firstOrderAt, &w)
        timestamp(s.lastOrderAt, &w)
        money(s.placedValue.minorUnits, &w)
        money(s.cancelledValue.minorUnits, &w)
        money(s.refundedValue.minorUnits, &w)
        w.unsigned(UInt64(s.purchaseDays.count))
        for day in s.purchaseDays {
            w.signed(day.day)
            w.signed(day.value)
        }
        w.optionalString(s.primaryCurrencyCode)
        strings(s.ownedSKUs, &w)
        w.int(s.returnsRequested)
        w.int(s.returnsRefunded)
        strings(s.openReturns, &w)
        w.int(s.reviewCount)
        w.optionalSigned(s.lastRating.map(Int64.init))
        strings(s.reviewedSKUs, &w)
        strings(s.unansweredNegativeReviews, &w)
        w.unsigned(UInt64(s.unansweredReviews.count))
        forEachSortedByKey(s.unansweredReviews) { review, rating in
            w.string(review)
            w.int(rating)
        }
        w.int(s.unboxingsShared)
        w.int(s.deliveryFailures)
        timestamp(s.lastEventAt, &w)
        w.int(s.eventCount)
        if s.forgottenAt != nil { timestamp(s.forgottenAt, &w) }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(BinaryDecodingError) -> CustomerState {
        var r = ByteReader(bytes)
        let version = try r.byte()
        guard version == formatVersion else {
            throw BinaryDecodingError("customer state format \(version), this build reads \(formatVersion): run `aftersale rebuild`")
        }
        var s = CustomerState(customer: try r.string())
        s.email = try r.optionalString()
        s.name = try r.optionalString()
        switch try EventFacts.storedBirthday(&r) {
        case .date(let b): s.birthday = b
        case .sealed(let token): s.sealedBirthday = token
        case .absent, .notADate: break
        }
        s.timeZone = try r.optionalString()
        let channels = Int(try r.unsigned())
        s.consent.reserveCapacity(channels)
        for _ in 0..<channels {
            let channel = try r.string()
            s.consent[channel] = try r.bool()
        }
        s.registeredAt = try timestamp(&r)
        let orderCount = Int(try r.unsigned())
        s.orders.reserveCapacity(orderCount)
        for _ in 0..<orderCount {
            let order = try decodeOrder(&r)
            s.orders[order.id] = order
        }
        s.orderCount = try r.int()
        s.itemCount = try r.int()
        s.firstOrderAt = try timestamp(&r)
        s.lastOrderAt = try timestamp(&r)
        s.placedValue.minorUnits = try money(&r)
        s.cancelledValue.minorUnits = try money(&r)
        s.refundedValue.minorUnits = try money(&r)
        let days = Int(try r.unsigned())
        s.purchaseDays.reserveCapacity(days)
        for _ in 0..<days { s.purchaseDays.append(CustomerState.PurchaseDay(day: try r.signed(), value: try r.signed())) }
        s.primaryCurrencyCode = try r.optionalString()
        s.ownedSKUs = try strings(&r)
        s.returnsRequested = try r.int()
        s.returnsRefunded = try r.int()
        s.openReturns = try strings(&r)
        s.reviewCount = try r.int()
        s.lastRating = try r.optionalSigned().map { Int($0) }
        s.reviewedSKUs = try strings(&r)
        s.unansweredNegativeReviews = try strings(&r)
        for _ in 0..<(try r.unsigned()) {
            let review = try r.string()
            s.unansweredReviews[review] = try r.int()
        }
        s.unboxingsShared = try r.int()
        s.deliveryFailures = try r.int()
        s.lastEventAt = try timestamp(&r)
        s.eventCount = try r.int()
        // Written only when set: the states of customers never forgotten keep their bytes.
        if !r.isAtEnd { s.forgottenAt = try timestamp(&r) }
        guard r.isAtEnd else { throw BinaryDecodingError("trailing bytes after a customer state") }
        return s
    }

    /// A state with only what a model fit reads filled in: the purchase days and the primary
    /// currency. Walks past the fields before them as `decode` reads them, without building orders
    /// or strings: a fit over a million customers reads this, not the whole of each state.
    public static func decodePurchases(_ bytes: UnsafeRawBufferPointer) throws(BinaryDecodingError) -> CustomerState {
        var r = ByteReader(bytes)
        let version = try r.byte()
        guard version == formatVersion else {
            throw BinaryDecodingError("customer state format \(version), this build reads \(formatVersion): run `aftersale rebuild`")
        }
        try r.skipString()  // customer
        _ = try r.skipOptionalString()  // email
        _ = try r.skipOptionalString()  // name
        _ = try EventFacts.birthday(&r)
        _ = try r.skipOptionalString()  // time zone
        for _ in 0..<(try r.unsigned()) {  // consent
            try r.skipString()
            _ = try r.bool()
        }
        try skipTimestamp(&r)  // registered
        for _ in 0..<(try r.unsigned()) { try skipOrder(&r) }
        _ = try r.int()  // order count
        _ = try r.int()  // item count
        try skipTimestamp(&r)  // first order
        try skipTimestamp(&r)  // last order
        for _ in 0..<3 {  // placed, cancelled, refunded value
            for _ in 0..<(try r.unsigned()) {
                try r.skipString()
                _ = try r.signed()
            }
        }
        var s = CustomerState(customer: "")
        let days = Int(try r.unsigned())
        s.purchaseDays.reserveCapacity(days)
        for _ in 0..<days { s.purchaseDays.append(CustomerState.PurchaseDay(day: try r.signed(), value: try r.signed())) }
        s.primaryCurrencyCode = try r.optionalString()
        return s
    }

    /// Walks past what `timestamp(_:_:)` wrote.
    static func skipTimestamp(_ r: inout ByteReader) throws(BinaryDecodingError) {
        if try r.optionalSigned() != nil { _ = try r.int() }
    }

    /// Walks past what `encode(_:_:)` wrote for an order, as `decodeOrder` reads it.
    static func skipOrder(_ r: inout ByteReader) throws(BinaryDecodingError) {
        try r.skipString()  // id
        try skipTimestamp(&r)  // placed
        _ = try r.optionalSigned()  // total
        _ = try r.skipOptionalString()  // currency
        for _ in 0..<(try r.unsigned()) {  // lines, as `OrderState.readEncodedLines` walks them
            try r.skipString()
            _ = try r.unsigned()
            _ = try r.unsigned()
            _ = try r.skipOptionalString()
            _ = try r.skipOptionalString()
        }
        try skipTimestamp(&r)  // cancelled
        try skipTimestamp(&r)  // dispatched
        for _ in 0..<3 { _ = try r.optionalStringField() }  // shipment
        for _ in 0..<4 { try skipTimestamp(&r) }  // delivered, failed, return requested, refunded
    }

    public static func decode(_ bytes: [UInt8]) throws(BinaryDecodingError) -> CustomerState {
        var result: Result<CustomerState, BinaryDecodingError>!
        bytes.withUnsafeBytes { raw in result = Result { () throws(BinaryDecodingError) in try decode(raw) } }
        return try result.get()
    }

    static func encode(_ o: OrderState, _ w: inout ByteWriter) {
        w.string(o.id)
        timestamp(o.placedAt, &w)
        w.optionalSigned(o.total)
        w.optionalString(o.currency)
        o.writeLines(&w)
        timestamp(o.cancelledAt, &w)
        timestamp(o.dispatchedAt, &w)
        writeShipment(o, &w)
        timestamp(o.deliveredAt, &w)
        timestamp(o.failedAt, &w)
        timestamp(o.returnRequestedAt, &w)
        timestamp(o.refundedAt, &w)
    }

    static func decodeOrder(_ r: inout ByteReader) throws(BinaryDecodingError) -> OrderState {
        var o = OrderState(id: try r.string())
        o.placedAt = try timestamp(&r)
        o.total = try r.optionalSigned()
        o.currency = try r.optionalString()
        try o.readLines(&r)
        o.cancelledAt = try timestamp(&r)
        o.dispatchedAt = try timestamp(&r)
        try readShipment(into: &o, &r)
        o.deliveredAt = try timestamp(&r)
        o.failedAt = try timestamp(&r)
        o.returnRequestedAt = try timestamp(&r)
        o.refundedAt = try timestamp(&r)
        return o
    }

    /// Writes an order's estimated delivery, carrier and tracking (the stored order) from its
    /// shipment block (carrier, tracking, estimated delivery), copying each field's bytes.
    static func writeShipment(_ o: OrderState, _ w: inout ByteWriter) {
        guard !o.encodedShipment.isEmpty else {
            for _ in 0..<3 { w.byte(0) }
            return
        }
        o.encodedShipment.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            do {
                let carrier = try r.optionalStringField()
                let tracking = try r.optionalStringField()
                w.append(raw: try r.optionalStringField())
                w.append(raw: carrier)
                w.append(raw: tracking)
            } catch {
                preconditionFailure("a shipment block checked when read does not decode: \(error)")
            }
        }
    }

    /// Reads what `writeShipment` wrote into `o`'s shipment block.
    static func readShipment(into o: inout OrderState, _ r: inout ByteReader) throws(BinaryDecodingError) {
        let estimatedDelivery = try r.optionalStringField()
        let carrier = try r.optionalStringField()
        let tracking = try r.optionalStringField()
        var w = ByteWriter(capacity: carrier.count + tracking.count + estimatedDelivery.count)
        w.append(raw: carrier)
        w.append(raw: tracking)
        w.append(raw: estimatedDelivery)
        var result: Result<Void, BinaryDecodingError> = .success(())
        w.bytes.withUnsafeBytes { raw in
            var b = ByteReader(raw)
            result = Result { () throws(BinaryDecodingError) in try o.readShipment(&b) }
        }
        try result.get()
    }

    static func timestamp(_ t: Timestamp?, _ w: inout ByteWriter) {
        w.optionalSigned(t?.millis)
        if let t { w.int(t.offsetMinutes) }
    }

    static func timestamp(_ r: inout ByteReader) throws(BinaryDecodingError) -> Timestamp? {
        guard let millis = try r.optionalSigned() else { return nil }
        return Timestamp(millis: millis, offsetMinutes: try r.int())
    }

    static func money(_ m: [String: Int64], _ w: inout ByteWriter) {
        w.unsigned(UInt64(m.count))
        forEachSortedByKey(m) { code, value in
            w.string(code)
            w.signed(value)
        }
    }

    /// Calls `body` with a map's entries in key order. Most maps here hold two entries or fewer
    /// (consent: email and sms): those are put in order by hand, not sorted into an array.
    static func forEachSortedByKey<V>(_ map: [String: V], _ body: (String, V) -> Void) {
        guard map.count > 1 else {
            for (key, value) in map { body(key, value) }
            return
        }
        guard map.count == 2 else {
            for (key, value) in map.sorted(by: { $0.key < $1.key }) { body(key, value) }
            return
        }
        let first = map[map.startIndex]
        let second = map[map.index(after: map.startIndex)]
        let (low, high) = first.key < second.key ? (first, second) : (second, first)
        body(low.key, low.value)
        body(high.key, high.value)
    }

    static func money(_ r: inout ByteReader) throws(BinaryDecodingError) -> [String: Int64] {
        var m: [String: Int64] = [:]
        for _ in 0..<(try r.unsigned()) {
            let code = try r.string()
            m[code] = try r.signed()
        }
        return m
    }

    /// A set's strings in order; most sets here hold two or fewer, put in order by hand.
    static func strings(_ set: Set<String>, _ w: inout ByteWriter) {
        w.unsigned(UInt64(set.count))
        switch set.count {
        case 0:
            break
        case 1:
            w.string(set[set.startIndex])
        case 2:
            let first = set[set.startIndex]
            let second = set[set.index(after: set.startIndex)]
            w.string(first < second ? first : second)
            w.string(first < second ? second : first)
        default:
            for s in set.sorted() { w.string(s) }
        }
    }

    static func strings(_ r: inout ByteReader) throws(BinaryDecodingError) -> Set<String> {
        let n = Int(try r.unsigned())
        var set = Set<String>(minimumCapacity: n)
        for _ in 0..<n { set.insert(try r.string()) }
        return set
    }
}
