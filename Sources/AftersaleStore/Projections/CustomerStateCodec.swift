public import AftersaleCore

/// How a `CustomerState` is stored in the `customers` read model: compact JSON.
public enum CustomerStateCodec {
    public static func encode(_ s: CustomerState) -> String {
        var o = JSONObject()
        func set(_ key: String, _ value: JSONValue?) { if let value { o[key] = value } }
        func ts(_ t: Timestamp?) -> JSONValue? { t.map { .array([.number(String($0.millis)), .integer($0.offsetMinutes)]) } }
        func money(_ m: [String: Int64]) -> JSONValue? {
            m.isEmpty ? nil : .object(JSONObject(m.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .number(String($0.value))) }))
        }
        func strings(_ set: Set<String>) -> JSONValue? { set.isEmpty ? nil : .array(set.sorted().map(JSONValue.string)) }
        set("c", .string(s.customer))
        set("email", s.email.map(JSONValue.string))
        set("name", s.name.map(JSONValue.string))
        set("birthday", s.birthday.map { .string($0.description) })
        set("tz", s.timeZone.map(JSONValue.string))
        if !s.consent.isEmpty {
            set("consent", .object(JSONObject(s.consent.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .bool($0.value)) })))
        }
        set("reg", ts(s.registeredAt))
        if !s.orders.isEmpty { set("orders", .array(s.orders.values.sorted { $0.id < $1.id }.map(encodeOrder))) }
        set("n", .integer(s.orderCount))
        set("items", .integer(s.itemCount))
        set("first", ts(s.firstOrderAt))
        set("last", ts(s.lastOrderAt))
        set("placed", money(s.placedValue))
        set("cancelled", money(s.cancelledValue))
        set("refunded", money(s.refundedValue))
        if !s.purchaseDays.isEmpty {
            set("days", .array(s.purchaseDays.map { .array([.number(String($0.day)), .number(String($0.value))]) }))
        }
        set("cur", s.primaryCurrency.map(JSONValue.string))
        set("owned", strings(s.ownedSKUs))
        set("rq", .integer(s.returnsRequested))
        set("rf", .integer(s.returnsRefunded))
        set("openReturns", strings(s.openReturns))
        set("reviews", .integer(s.reviewCount))
        set("lastRating", s.lastRating.map(JSONValue.integer))
        set("reviewed", strings(s.reviewedSKUs))
        set("unansweredNegative", strings(s.unansweredNegativeReviews))
        if !s.unansweredReviews.isEmpty {
            set("unanswered", .object(JSONObject(s.unansweredReviews.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .integer($0.value)) })))
        }
        set("shared", .integer(s.unboxingsShared))
        set("failures", .integer(s.deliveryFailures))
        set("lastEvent", ts(s.lastEventAt))
        set("events", .integer(s.eventCount))
        return JSONValue.object(o).compactText
    }

    static func encodeOrder(_ order: OrderState) -> JSONValue {
        var o = JSONObject()
        func set(_ key: String, _ value: JSONValue?) { if let value { o[key] = value } }
        func ts(_ t: Timestamp?) -> JSONValue? { t.map { .array([.number(String($0.millis)), .integer($0.offsetMinutes)]) } }
        set("id", .string(order.id))
        set("placed", ts(order.placedAt))
        set("total", order.total.map { .number(String($0)) })
        set("cur", order.currency.map(JSONValue.string))
        if !order.lines.isEmpty {
            set("lines", .array(order.lines.map { l in
                var line = JSONObject(["sku": .string(l.sku), "q": .integer(l.quantity), "p": .number(String(l.price))])
                if let c = l.category { line["cat"] = .string(c) }
                if let n = l.name { line["name"] = .string(n) }
                return .object(line)
            }))
        }
        set("cancelled", ts(order.cancelledAt))
        set("dispatched", ts(order.dispatchedAt))
        set("eta", order.estimatedDelivery.map(JSONValue.string))
        set("carrier", order.carrier.map(JSONValue.string))
        set("tracking", order.tracking.map(JSONValue.string))
        set("delivered", ts(order.deliveredAt))
        set("failed", ts(order.failedAt))
        set("returned", ts(order.returnRequestedAt))
        set("refunded", ts(order.refundedAt))
        return .object(o)
    }

    public static func decode(_ text: String) throws -> CustomerState {
        guard case .object(let o) = try JSONParser.parse(text), let customer = o["c"]?.stringValue else {
            throw SQLiteError(code: 1, message: "a stored customer state is not readable", sql: nil)
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
        s.placedValue = money(o["placed"])
        s.cancelledValue = money(o["cancelled"])
        s.refundedValue = money(o["refunded"])
        s.purchaseDays = (o["days"]?.arrayValue ?? []).compactMap { v in
            guard let a = v.arrayValue, a.count == 2, case .number(let d) = a[0], case .number(let val) = a[1],
                  let day = Int64(d), let value = Int64(val) else { return nil }
            return CustomerState.PurchaseDay(day: day, value: value)
        }
        s.primaryCurrency = o["cur"]?.stringValue
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
