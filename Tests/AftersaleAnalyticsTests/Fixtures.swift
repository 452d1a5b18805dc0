import AftersaleCore
@testable import AftersaleAnalytics

/// Builds customer states by folding real events, the way the engine does.
final class CustomerBuilder {
    var state: CustomerState
    private var counter = 0

    init(_ customer: String) { state = CustomerState(customer: customer) }

    static func at(_ text: String) -> Timestamp {
        let full = text.count == 10 ? text + "T12:00:00Z" : text
        return try! Timestamp.parse(full)
    }

    private func apply(_ type: EventType, _ at: String, _ data: JSONObject) {
        counter += 1
        state.apply(Event(id: "\(state.customer)-\(counter)", type: type, customer: state.customer, at: Self.at(at), data: data))
    }

    @discardableResult
    func register(_ at: String, consent: [String: Bool] = [:]) -> CustomerBuilder {
        var data = JSONObject()
        if !consent.isEmpty {
            data["consent"] = .object(JSONObject(consent.keys.sorted().map { JSONObject.Member(key: $0, value: .bool(consent[$0]!)) }))
        }
        apply(.customerRegistered, at, data)
        return self
    }

    /// An order; `lines` are (sku, quantity, unit price) in major units.
    @discardableResult
    func order(_ id: String, _ at: String, total: String, currency: String = "EUR",
                        lines: [(String, Int, String)] = [], names: [String: String] = [:]) -> CustomerBuilder {
        let lineValues: [JSONValue] = lines.map { sku, quantity, price in
            var line = JSONObject(["sku": .string(sku), "quantity": .integer(quantity), "price": .string(price)])
            if let name = names[sku] { line["name"] = .string(name) }
            return .object(line)
        }
        apply(.orderPlaced, at, JSONObject(["order": .string(id), "total": .string(total), "currency": .string(currency),
                                            "lines": .array(lineValues)]))
        return self
    }

    @discardableResult
    func cancel(_ id: String, _ at: String) -> CustomerBuilder {
        apply(.orderCancelled, at, JSONObject(["order": .string(id)]))
        return self
    }

    @discardableResult
    func deliver(_ id: String, _ at: String) -> CustomerBuilder {
        apply(.shipmentDelivered, at, JSONObject(["order": .string(id)]))
        return self
    }

    @discardableResult
    func requestReturn(_ id: String, order: String, _ at: String) -> CustomerBuilder {
        apply(.returnRequested, at, JSONObject(["order": .string(order), "return": .string(id)]))
        return self
    }

    @discardableResult
    func refund(_ id: String, order: String, _ at: String, amount: String, currency: String = "EUR") -> CustomerBuilder {
        apply(.returnRefunded, at, JSONObject(["order": .string(order), "return": .string(id), "amount": .string(amount),
                                               "currency": .string(currency)]))
        return self
    }

    @discardableResult
    func review(_ id: String, sku: String, rating: Int, _ at: String) -> CustomerBuilder {
        apply(.reviewPosted, at, JSONObject(["review": .string(id), "sku": .string(sku), "rating": .integer(rating)]))
        return self
    }
}

/// Text that breaks naive CSV and HTML writers.
let awkwardTexts: [String] = [
    "plain",
    "comma, inside",
    "say \"hello\"",
    "\"starts and ends with quotes\"",
    "line one\nline two",
    "windows\r\nline",
    "lone\rcarriage",
    "  leading and trailing spaces  ",
    " ",
    "ümlaut, 日本語, emoji 🫖, RTL שלום",
    "semi;colon\ttab",
    "=SUM(A1:A2)",
    "<script>alert('x')</script>",
    "trailing newline\n",
    ",",
    "\"",
    "\"\"",
]
