public import AftersaleCore

/// Shopify webhooks as catalogue envelopes (events/sources/README.md, field by field).
///
/// Ids derive from `X-Shopify-Event-Id` (else `X-Shopify-Webhook-Id`) and the topic, so Shopify's
/// retries of one webhook are duplicates in the log. Times come from the payload, else from
/// `X-Shopify-Triggered-At`. Amounts stay the decimal text Shopify sends.
public enum Shopify {
    /// The customer of an event whose payload names only its order (fulfillments, refunds,
    /// returns): the intake puts in the customer of that order's `order.placed`.
    public static let customerOfOrder = "$order"
    /// Set by the server to when the webhook came: the time of an event whose payload and headers
    /// give none.
    public static let receivedAtHeader = "x-aftersale-received-at"

    public static func map(topic: String, headers: [String: String], body: [UInt8], customerPrefix: String) -> MappingResult {
        let root: JSONValue
        do { root = try body.withUnsafeBufferPointer { b throws(JSONSyntaxError) in try JSONParser.parse(b) } } catch {
            return .rejected(field: "body", reason: "not JSON: \(error)")
        }
        guard let o = root.objectValue else { return .rejected(field: "body", reason: "expected a JSON object") }
        guard let eventID = headers["x-shopify-event-id"] ?? headers["x-shopify-webhook-id"], !eventID.isEmpty else {
            return .rejected(field: "X-Shopify-Event-Id", reason: "missing (and no X-Shopify-Webhook-Id): the event id derives from it, so retries are duplicates")
        }
        var message = Message(topic: topic, eventID: eventID, object: o, headers: headers, prefix: customerPrefix)
        do {
            switch topic {
            case "customers/create", "customers/update": return .events(try message.customer())
            case "orders/create": return .events(try message.orderCreated())
            case "orders/cancelled": return .events(try message.orderCancelled())
            case "fulfillments/create": return .events(try message.fulfillmentCreated())
            case "fulfillment_events/create": return try message.fulfillmentEvent()
            case "refunds/create": return .events(try message.refund())
            case "returns/request": return .events(try message.returnRequested())
            case "customers/data_request", "customers/redact", "shop/redact": return .events(try message.privacy())
            default: return .ignored("topic \(topic) is not mapped")
            }
        } catch {
            return .rejected(field: error.field, reason: error.reason)
        }
    }

    struct Message {
        let topic: String
        let eventID: String
        let object: JSONObject
        let headers: [String: String]
        let prefix: String

        var baseID: String { "shopify:\(topic):\(eventID)" }
        var meta: JSONValue {
            var m = JSONObject(["source": "shopify", "topic": .string(topic)])
            if let shop = headers["x-shopify-shop-domain"] { m["shop_domain"] = .string(shop) }
            return .object(m)
        }

        /// A member as text: Shopify's ids are JSON numbers, kept as written.
        func text(_ value: JSONValue?) -> String? {
            switch value {
            case .string(let s)? where !s.isEmpty: s
            case .number(let n)?: n
            default: nil
            }
        }

        func required(_ name: String, in o: JSONObject? = nil, path: String? = nil) throws(EventError) -> String {
            guard let v = text((o ?? object)[name]) else { throw EventError(field: path ?? name, reason: "missing, or not a string or number") }
            return v
        }

        /// The event's time: the first of `names` in the payload, else the trigger time.
        func time(_ names: [String]) throws(EventError) -> String {
            for name in names { if let t = object[name]?.stringValue, !t.isEmpty { return t } }
            if let t = headers["x-shopify-triggered-at"], !t.isEmpty { return t }
            if let t = headers[Shopify.receivedAtHeader], !t.isEmpty { return t }
            throw EventError(field: names.first ?? "created_at", reason: "missing, and no X-Shopify-Triggered-At header")
        }

        func envelope(_ suffix: String, _ type: EventType, customer: String, at: String, data: JSONObject,
                      condition: MappedEvent.Condition = .always) -> MappedEvent {
            let e = JSONObject([
                "id": .string(baseID + suffix), "type": .string(type.rawValue), "customer": .string(customer),
                "at": .string(at), "data": .object(data), "meta": meta,
            ])
            return MappedEvent(line: JSONValue.object(e).compactText, condition: condition)
        }

        /// Profile fields of a Shopify customer object.
        func profile(_ c: JSONObject) -> JSONObject {
            var data = JSONObject()
            if let email = c["email"]?.stringValue, !email.isEmpty { data["email"] = .string(email) }
            let name = [c["first_name"]?.stringValue, c["last_name"]?.stringValue].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            if !name.isEmpty { data["name"] = .string(name) }
            var consent = JSONObject()
            if let state = c["email_marketing_consent"]?["state"]?.stringValue { consent["email"] = .bool(state == "subscribed") }
            if let state = c["sms_marketing_consent"]?["state"]?.stringValue { consent["sms"] = .bool(state == "subscribed") }
            if !consent.members.isEmpty { data["consent"] = .object(consent) }
            return data
        }

        mutating func customer() throws(EventError) -> [MappedEvent] {
            let customer = prefix + (try required("id"))
            let at = try time(["updated_at", "created_at"])
            let data = profile(object)
            // Registered if the log does not know them yet (an order may have registered them first).
            return [envelope(":registered", .customerRegistered, customer: customer, at: at, data: data, condition: .customerUnknown),
                    envelope(":updated", .customerUpdated, customer: customer, at: at, data: data, condition: .customerKnown)]
        }

        func orderCustomer() throws(EventError) -> (String, JSONObject) {
            guard let c = object["customer"]?.objectValue else {
                throw EventError(field: "customer", reason: "missing: an order without a customer (a guest checkout) cannot be attributed")
            }
            return (prefix + (try required("id", in: c, path: "customer.id")), c)
        }

        mutating func orderCreated() throws(EventError) -> [MappedEvent] {
            let (customer, c) = try orderCustomer()
            let at = try time(["created_at", "processed_at"])
            guard let items = object["line_items"]?.arrayValue, !items.isEmpty else {
                throw EventError(field: "line_items", reason: "missing or empty")
            }
            var lines: [JSONValue] = []
            for (i, item) in items.enumerated() {
                guard let line = item.objectValue else { throw EventError(field: "line_items[\(i)]", reason: "expected an object") }
                // A product without a SKU is named by its variant, else its product id.
                guard let sku = text(line["sku"]) ?? text(line["variant_id"]).map({ "variant-\($0)" }) ?? text(line["product_id"]).map({ "product-\($0)" }) else {
                    throw EventError(field: "line_items[\(i)].sku", reason: "missing, and no variant_id or product_id")
                }
                var l = JSONObject(["sku": .string(sku)])
                guard let quantity = line["quantity"], quantity.intValue != nil else { throw EventError(field: "line_items[\(i)].quantity", reason: "missing or not an integer") }
                l["quantity"] = quantity
                l["price"] = .string(try required("price", in: line, path: "line_items[\(i)].price"))
                if let title = line["title"]?.stringValue { l["name"] = .string(title) }
                lines.append(.object(l))
            }
            let data = JSONObject([
                "order": .string(try required("id")), "total": .string(try required("total_price")),
                "currency": .string(try required("currency")), "lines": .array(lines),
            ])
            return [envelope(":customer", .customerRegistered, customer: customer, at: at, data: profile(c), condition: .customerUnknown),
                    envelope("", .orderPlaced, customer: customer, at: at, data: data)]
        }

        mutating func orderCancelled() throws(EventError) -> [MappedEvent] {
            let (customer, _) = try orderCustomer()
            var data = JSONObject(["order": .string(try required("id"))])
            if let reason = object["cancel_reason"]?.stringValue { data["reason"] = .string(reason) }
            return [envelope("", .orderCancelled, customer: customer, at: try time(["cancelled_at", "updated_at"]), data: data)]
        }

        mutating func fulfillmentCreated() throws(EventError) -> [MappedEvent] {
            var data = JSONObject(["order": .string(try required("order_id")), "shipment": .string(try required("id"))])
            if let v = object["tracking_company"]?.stringValue { data["carrier"] = .string(v) }
            if let v = object["tracking_number"]?.stringValue { data["tracking"] = .string(v) }
            if let v = object["tracking_url"]?.stringValue { data["tracking_url"] = .string(v) }
            return [envelope("", .shipmentDispatched, customer: Shopify.customerOfOrder, at: try time(["created_at"]), data: data)]
        }

        mutating func fulfillmentEvent() throws(EventError) -> MappingResult {
            let status = try required("status")
            var data = JSONObject(["order": .string(try required("order_id"))])
            if let shipment = text(object["fulfillment_id"]) { data["shipment"] = .string(shipment) }
            let type: EventType
            switch status {
            case "delivered": type = .shipmentDelivered
            case "failure", "attempted_delivery", "delayed":
                type = .shipmentFailed
                data["reason"] = .string(status)
            default: return .ignored("fulfillment event status \(status) is not mapped")
            }
            return .events([envelope("", type, customer: Shopify.customerOfOrder, at: try time(["happened_at", "created_at"]), data: data)])
        }

        mutating func refund() throws(EventError) -> [MappedEvent] {
            guard let transactions = object["transactions"]?.arrayValue else { throw EventError(field: "transactions", reason: "missing") }
            var total: Int64 = 0
            var currency: Currency?
            for (i, t) in transactions.enumerated() {
                guard let t = t.objectValue, t["kind"]?.stringValue == "refund" else { continue }
                if let status = t["status"]?.stringValue, status != "success" { continue }
                let code = try required("currency", in: t, path: "transactions[\(i)].currency")
                guard let c = Currency(code: code) else { throw EventError(field: "transactions[\(i)].currency", reason: "not an ISO 4217 code") }
                if let currency, currency != c { throw EventError(field: "transactions[\(i)].currency", reason: "refund transactions in two currencies") }
                currency = c
                let amount = try required("amount", in: t, path: "transactions[\(i)].amount")
                do { total += try Money.parseMinorUnits(amount, digits: c.minorUnitDigits) } catch {
                    throw EventError(field: "transactions[\(i)].amount", reason: "not an amount in \(code)")
                }
            }
            guard let currency else { throw EventError(field: "transactions", reason: "no successful refund transaction: no money was paid back") }
            let data = JSONObject([
                "order": .string(try required("order_id")), "return": .string(try required("id")),
                "amount": .string(Money(minorUnits: total, currency: currency).decimalString), "currency": .string(currency.code),
            ])
            return [envelope("", .returnRefunded, customer: Shopify.customerOfOrder, at: try time(["processed_at", "created_at"]), data: data)]
        }

        mutating func returnRequested() throws(EventError) -> [MappedEvent] {
            let order: String
            if let id = text(object["order"]?["id"]) { order = id } else { order = try required("order_id") }
            var data = JSONObject(["order": .string(order), "return": .string(try required("id"))])
            if let reason = object["return_line_items"]?.arrayValue?.first?["return_reason"]?.stringValue { data["reason"] = .string(reason) }
            return [envelope("", .returnRequested, customer: Shopify.customerOfOrder, at: try time(["created_at", "requested_at"]), data: data)]
        }

        mutating func privacy() throws(EventError) -> [MappedEvent] {
            var data = JSONObject(["request": .string(topic), "source": "shopify"])
            let customer: String
            if topic == "shop/redact" {
                customer = EventType.systemCustomer
            } else {
                guard let c = object["customer"]?.objectValue else { throw EventError(field: "customer", reason: "missing") }
                customer = prefix + (try required("id", in: c, path: "customer.id"))
                if let orders = object["orders_requested"] ?? object["orders_to_redact"] { data["orders"] = orders }
                if let request = object["data_request"]?["id"] { data["data_request"] = request }
            }
            if let domain = object["shop_domain"]?.stringValue { data["shop_domain"] = .string(domain) }
            return [envelope("", .privacyRequested, customer: customer, at: try time(["created_at"]), data: data)]
        }
    }
}
