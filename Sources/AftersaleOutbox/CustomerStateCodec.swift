public import AftersaleCore
internal import AftersaleStore

/// The JSON form in which earlier versions stored a `CustomerState` (the customers read model
/// and the reactor's states); read once, to convert a reactor's states to `CustomerStateBinaryCodec`.
public enum CustomerStateCodec {
    public static func decode(_ text: String) throws -> CustomerState {
        guard case .object(let o) = try JSONParser.parse(text), let customer = o["c"]?.stringValue else {
            throw StoreError(.unknownStoredValue, "a reactor state stored by an earlier version is not readable")
        }
        func ts(_ v: JSONValue?) -> Timestamp? {
            guard let a = v?.arrayValue, a.count == 2, let ms = a[0].doubleValue, let off = a[1].intValue else { return nil }
            return Timestamp(millis: Int64(ms), offsetMinutes: off)
        }
        func money(_ v: JSONValue?) -> [String: Int64] {
            var m: [String: Int64] = [:]
            for member in v?.objectValue?.members ?? [] { if case .number(let t) = member.value { m[member.key] = Int64(t) } }
            return m
        }
        func strings(_ v: JSONValue?) -> Set<String> { Set((v?.arrayValue ?? []).compactMap(\.stringValue)) }
        var s = CustomerState(customer: customer)
        s.email = o["email"]?.stringValue
        s.name = o["name"]?.stringValue
        s.birthday = o["birthday"]?.stringValue.flatMap(Birthday.init)
        s.timeZone = o["tz"]?.stringValue
        for member in o["consent"]?.objectValue?.members ?? [] { s.consent[member.key] = member.value.boolValue }
        s.registeredAt = ts(o["reg"])
        for value in o["orders"]?.arrayValue ?? [] {
            guard let order = decodeOrder(value, ts) else { continue }
            s.orders[order.id] = order
        }
        s.orderCount = o["n"]?.intValue ?? 0
        s.itemCount = o["items"]?.intValue ?? 0
        s.firstOrderAt = ts(o["first"])
        s.lastOrderAt = ts(o["last"])
        s.placedValue.minorUnits = money(o["placed"])
        s.cancelledValue.minorUnits = money(o["cancelled"])
        s.refundedValue.minorUnits = money(o["refunded"])
        s.purchaseDays = (o["days"]?.arrayValue ?? []).compactMap { v in
            guard let a = v.arrayValue, a.count == 2, case .number(let d) = a[0], case .number(let val) = a[1],
                  let day = Int64(d), let value = Int64(val) else { return nil }
            return CustomerState.PurchaseDay(day: day, value: value)
        }
        s.primaryCurrencyCode = o["cur"]?.stringValue
        s.ownedSKUs = strings(o["owned"])
        s.returnsRequested = o["rq"]?.intValue ?? 0
        s.returnsRefunded = o["rf"]?.intValue ?? 0
        s.openReturns = strings(o["openReturns"])
        s.reviewCount = o["reviews"]?.intValue ?? 0
        s.lastRating = o["lastRating"]?.intValue
        s.reviewedSKUs = strings(o["reviewed"])
        s.unansweredNegativeReviews = strings(o["unansweredNegative"])
        for member in o["unanswered"]?.objectValue?.members ?? [] { s.unansweredReviews[member.key] = member.value.intValue }
        s.unboxingsShared = o["shared"]?.intValue ?? 0
        s.deliveryFailures = o["failures"]?.intValue ?? 0
        s.lastEventAt = ts(o["lastEvent"])
        s.eventCount = o["events"]?.intValue ?? 0
        return s
    }

    static func decodeOrder(_ value: JSONValue, _ ts: (JSONValue?) -> Timestamp?) -> OrderState? {
        guard let o = value.objectValue, let id = o["id"]?.stringValue else { return nil }
        var order = OrderState(id: id)
        order.placedAt = ts(o["placed"])
        if case .number(let t)? = o["total"] { order.total = Int64(t) }
        order.currency = o["cur"]?.stringValue
        order.lines = (o["lines"]?.arrayValue ?? []).compactMap { v in
            guard let l = v.objectValue, let sku = l["sku"]?.stringValue else { return nil }
            var price: Int64 = 0
            if case .number(let p)? = l["p"] { price = Int64(p) ?? 0 }
            return OrderLine(sku: sku, quantity: l["q"]?.intValue ?? 1, price: price, category: l["cat"]?.stringValue,
                             name: l["name"]?.stringValue)
        }
        order.cancelledAt = ts(o["cancelled"])
        order.dispatchedAt = ts(o["dispatched"])
        order.estimatedDelivery = o["eta"]?.stringValue
        order.carrier = o["carrier"]?.stringValue
        order.tracking = o["tracking"]?.stringValue
        order.deliveredAt = ts(o["delivered"])
        order.failedAt = ts(o["failed"])
        order.returnRequestedAt = ts(o["returned"])
        order.refundedAt = ts(o["refunded"])
        return order
    }
}
