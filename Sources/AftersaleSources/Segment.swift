public import AftersaleCore

/// Segment (and RudderStack, which speaks the same API) calls as catalogue envelopes
/// (events/sources/README.md, field by field). `messageId` is the idempotency key, `userId` the
/// customer. Numbers are kept as written in the JSON, so amounts stay exact.
public enum Segment {
    public enum Endpoint: String, Sendable, CaseIterable {
        case track, identify, batch
    }

    /// One call's outcome.
    public struct Item: Sendable, Equatable {
        public var messageID: String?
        public var result: MappingResult
    }

    /// A body that is not a call at all.
    public struct BodyError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public static func map(_ endpoint: Endpoint, body: [UInt8]) -> Result<[Item], BodyError> {
        let root: JSONValue
        do { root = try body.withUnsafeBufferPointer { b throws(JSONSyntaxError) in try JSONParser.parse(b) } } catch {
            return .failure(BodyError(description: "not JSON: \(error)"))
        }
        guard let o = root.objectValue else { return .failure(BodyError(description: "expected a JSON object")) }
        switch endpoint {
        case .track, .identify:
            return .success([item(o, type: endpoint.rawValue)])
        case .batch:
            guard let calls = o["batch"]?.arrayValue else { return .failure(BodyError(description: "batch: expected an array of calls")) }
            return .success(calls.enumerated().map { i, call in
                guard let c = call.objectValue else { return Item(messageID: nil, result: .rejected(field: "batch[\(i)]", reason: "expected an object")) }
                return item(c, type: c["type"]?.stringValue ?? "")
            })
        }
    }

    static func item(_ o: JSONObject, type: String) -> Item {
        let messageID = o["messageId"]?.stringValue
        do {
            return Item(messageID: messageID, result: try call(o, type: type, messageID: messageID))
        } catch {
            return Item(messageID: messageID, result: .rejected(field: error.field, reason: error.reason))
        }
    }

    static func call(_ o: JSONObject, type: String, messageID: String?) throws(EventError) -> MappingResult {
        guard type == "track" || type == "identify" else { return .ignored("call type \(type.isEmpty ? "(none)" : type) is not mapped") }
        let name = o["event"]?.stringValue ?? ""
        let mappedEvents = ["Order Completed", "Order Cancelled", "Order Refunded", "Product Reviewed"]
        if type == "track", !mappedEvents.contains(name) { return .ignored("track event \"\(name)\" is not mapped") }
        guard let messageID, !messageID.isEmpty else { throw EventError(field: "messageId", reason: "missing: it is the idempotency key") }
        guard let user = text(o["userId"]) else {
            if o["anonymousId"] != nil {
                throw EventError(field: "userId", reason: "missing: a call with only an anonymousId cannot be attributed to a customer")
            }
            throw EventError(field: "userId", reason: "missing")
        }
        guard let at = ["timestamp", "originalTimestamp", "sentAt", "receivedAt"].lazy.compactMap({ o[$0]?.stringValue }).first else {
            throw EventError(field: "timestamp", reason: "missing (and no originalTimestamp, sentAt or receivedAt)")
        }
        var meta = JSONObject(["source": "segment"])
        if let library = o["context"]?["library"]?["name"]?.stringValue { meta["library"] = .string(library) }
        func envelope(_ suffix: String, _ eventType: EventType, _ data: JSONObject, _ condition: MappedEvent.Condition = .always) -> MappedEvent {
            let e = JSONObject(["id": .string("segment:\(messageID)\(suffix)"), "type": .string(eventType.rawValue), "customer": .string(user),
                                "at": .string(at), "data": .object(data), "meta": .object(meta)])
            return MappedEvent(line: JSONValue.object(e).compactText, condition: condition)
        }
        if type == "identify" {
            let traits = o["traits"]?.objectValue ?? JSONObject()
            var data = JSONObject()
            if let email = traits["email"]?.stringValue { data["email"] = .string(email) }
            let name = traits["name"]?.stringValue
                ?? [traits["firstName"]?.stringValue, traits["lastName"]?.stringValue].compactMap { $0 }.joined(separator: " ")
            if !name.isEmpty { data["name"] = .string(name) }
            if let birthday = traits["birthday"]?.stringValue { data["birthday"] = .string(String(birthday.prefix(10))) }
            if let zone = traits["timezone"]?.stringValue ?? o["context"]?["timezone"]?.stringValue { data["timezone"] = .string(zone) }
            return .events([envelope(":registered", .customerRegistered, data, .customerUnknown),
                            envelope(":updated", .customerUpdated, data, .customerKnown)])
        }
        let p = o["properties"]?.objectValue ?? JSONObject()
        func required(_ names: [String]) throws(EventError) -> String {
            for n in names { if let v = text(p[n]) { return v } }
            throw EventError(field: "properties.\(names[0])", reason: "missing" + (names.count > 1 ? " (and no \(names.dropFirst().joined(separator: " or ")))" : ""))
        }
        switch name {
        case "Order Completed":
            guard let products = p["products"]?.arrayValue, !products.isEmpty else {
                throw EventError(field: "properties.products", reason: "missing or empty")
            }
            var lines: [JSONValue] = []
            for (i, product) in products.enumerated() {
                guard let q = product.objectValue else { throw EventError(field: "properties.products[\(i)]", reason: "expected an object") }
                guard let sku = text(q["sku"]) ?? text(q["product_id"]) else {
                    throw EventError(field: "properties.products[\(i)].sku", reason: "missing (and no product_id)")
                }
                guard let price = text(q["price"]) else { throw EventError(field: "properties.products[\(i)].price", reason: "missing") }
                var l = JSONObject(["sku": .string(sku), "quantity": q["quantity"] ?? .integer(1), "price": .string(price)])
                if let n = q["name"]?.stringValue { l["name"] = .string(n) }
                if let c = q["category"]?.stringValue { l["category"] = .string(c) }
                lines.append(.object(l))
            }
            return .events([envelope("", .orderPlaced, JSONObject([
                "order": .string(try required(["order_id"])), "total": .string(try required(["total", "revenue"])),
                "currency": .string(try required(["currency"])), "lines": .array(lines),
            ]))])
        case "Order Cancelled":
            return .events([envelope("", .orderCancelled, JSONObject(["order": .string(try required(["order_id"]))]))])
        case "Order Refunded":
            return .events([envelope("", .returnRefunded, JSONObject([
                "order": .string(try required(["order_id"])), "return": .string(text(p["refund_id"]) ?? "segment:\(messageID)"),
                "amount": .string(try required(["total", "revenue", "amount"])), "currency": .string(try required(["currency"])),
            ]))])
        default:  // Product Reviewed
            var data = JSONObject([
                "review": .string(try required(["review_id"])), "sku": .string(try required(["product_id", "sku"])),
                "rating": p["rating"] ?? .null,
            ])
            if p["rating"] == nil { throw EventError(field: "properties.rating", reason: "missing") }
            if let body = p["review_body"]?.stringValue { data["text"] = .string(body) }
            return .events([envelope("", .reviewPosted, data)])
        }
    }

    /// A string, or a number as written.
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)? where !s.isEmpty: s
        case .number(let n)?: n
        default: nil
        }
    }
}
