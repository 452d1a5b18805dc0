public import AftersaleCore
public import AftersaleReactor

/// The JSON body one command is delivered with: all an email or SMS tool needs to act without
/// calling back (the schema is `events/delivery/command.schema.json`).
public enum DeliveryBody {
    /// The body's `type`, so a receiver that takes several kinds of webhook can tell this one.
    public static let type = "aftersale.command"

    /// The body of `command` for a customer in `state` (nil when the reactor holds no state for
    /// them), with `links` filled from the command.
    ///
    /// - `recipient`: the customer id, the address for the channel when known (`email` for
    ///   email), name and time zone; absent fields are left out, never guessed.
    /// - `items`: the SKUs the payload names, with the names the customer's orders gave them.
    public static func make(_ command: Command, state: CustomerState?, links templates: [String: String]) -> JSONObject {
        var recipient = JSONObject(["customer": .string(command.customer)])
        if let email = state?.email { recipient["email"] = .string(email) }
        if let name = state?.name { recipient["name"] = .string(name) }
        if let zone = state?.timeZone { recipient["time_zone"] = .string(zone) }
        var body = JSONObject([
            "type": .string(type), "id": .string(command.id), "customer": .string(command.customer),
            "kind": .string(command.kind.rawValue), "channel": .string(command.channel.rawValue),
            "reason": .string(command.reason), "due": .string(command.due.description), "priority": .string(command.priority.rawValue),
            "recipient": .object(recipient), "payload": .object(command.payload),
        ])
        let skus = DeliveryBody.skus(command.payload)
        if !skus.isEmpty {
            var names: [String: String] = [:]
            for order in state?.orders.values ?? [] {
                for line in order.lines { if let name = line.name, names[line.sku] == nil { names[line.sku] = name } }
            }
            body["items"] = .array(skus.map { sku in
                var item = JSONObject(["sku": .string(sku)])
                if let name = names[sku] { item["name"] = .string(name) }
                return .object(item)
            })
        }
        var links = JSONObject()
        for name in templates.keys.sorted() {
            if let url = fill(templates[name]!, command: command, skus: skus) { links[name] = .string(url) }
        }
        if !links.members.isEmpty { body["links"] = .object(links) }
        return body
    }

    /// The SKUs a payload names: its `sku`, then its `skus`, in order, once each.
    static func skus(_ payload: JSONObject) -> [String] {
        var found: [String] = []
        if let sku = payload["sku"]?.stringValue { found.append(sku) }
        for value in payload["skus"]?.arrayValue ?? [] { if let sku = value.stringValue, !found.contains(sku) { found.append(sku) } }
        return found
    }

    /// A template with its `{field}`s filled, URL-encoded; nil when it names a field the command
    /// lacks (a review link for a command about no order is no link) or one it does not know.
    static func fill(_ template: String, command: Command, skus: [String]) -> String? {
        let coupon = command.payload["coupon"]?.stringValue ?? command.payload["offer"]?["code"]?.stringValue
        let fields: [String: String?] = [
            "order": command.payload["order"]?.stringValue, "sku": skus.first, "customer": command.customer,
            "command": command.id, "kind": command.kind.rawValue, "coupon": coupon,
        ]
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else { return nil }
            let name = String(rest[rest.index(after: open)..<close])
            guard let known = fields[name], let value = known else { return nil }
            out += percentEncoded(value)
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// RFC 3986 unreserved characters stay; every other byte is %XX.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}
