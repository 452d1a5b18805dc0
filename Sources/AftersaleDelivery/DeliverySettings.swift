public import AftersaleCore
public import AftersaleReactor

/// Where commands are delivered: one webhook endpoint and the commands it takes.
public struct Destination: Sendable, Equatable {
    /// The name delivery records and metrics use (the config's `name`, else the URL's host).
    public var name: String
    public var url: String
    /// The kinds it takes (empty: every kind).
    public var kinds: Set<CommandKind> = []
    /// The channels it takes (empty: every channel).
    public var channels: Set<Channel> = []
    /// Seconds to wait for an answer; longer counts as a failure to retry.
    public var timeoutSeconds: Double = 15
    /// Requests in flight at once.
    public var concurrency = 8

    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }

    public func takes(_ command: Command) -> Bool {
        (kinds.isEmpty || kinds.contains(command.kind)) && (channels.isEmpty || channels.contains(command.channel))
    }
}

/// How delivery behaves: destinations, signing secrets, the retry schedule and the links bodies carry.
public struct DeliverySettings: Sendable {
    /// In order: a command goes to the first that takes it.
    public var destinations: [Destination] = []
    /// The signing secrets; during a rotation two, and each request carries both signatures.
    public var secrets: [WebhookSecret] = []
    /// Seconds after each failed try before the next (Svix's schedule after the first try); when it
    /// runs out, the command fails.
    public var retrySchedule: [Double] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
    /// Each wait is lengthened by up to this fraction, so many failures at once do not retry at once.
    public var jitter = 0.2
    /// Links the body carries, by name: templates with `{order}`, `{sku}`, `{customer}`, `{command}`,
    /// `{kind}`, `{coupon}` filled from the command (URL-encoded); a template naming a field the
    /// command lacks is left out.
    public var links: [String: String] = [:]
    /// In `serve`: seconds between delivery runs when nothing wakes it (retries come due with time).
    public var intervalSeconds = 5.0

    public init() {}

    /// The destination for `command`: the first that takes it.
    public func destination(for command: Command) -> Destination? {
        destinations.first { $0.takes(command) }
    }
}

/// A delivery setting that cannot be used: which one and why (never a secret's value).
public struct DeliverySettingsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension DeliverySettings {
    /// Settings from the config file's `webhooks` section, then `AFTERSALE_WEBHOOK_SECRET` from the
    /// environment, which wins over the file's `secret`.
    ///
    /// ```json
    /// "webhooks": {
    ///   "destinations": [{"name": "mailer", "url": "https://...", "kinds": ["review_request"], "channels": ["email"],
    ///                     "timeout_seconds": 15, "concurrency": 8}],
    ///   "retry_schedule_seconds": [5, 300, 1800, 7200, 18000, 36000, 36000],
    ///   "links": {"review": "https://shop.example/review?order={order}&sku={sku}"},
    ///   "secret": "whsec_..."
    /// }
    /// ```
    public static func load(configText: String?, configName: String = "config", environment: [String: String]) throws(DeliverySettingsError) -> DeliverySettings {
        var settings = DeliverySettings()
        if let configText {
            let root: JSONValue
            do { root = try JSONParser.parse(configText) } catch { throw DeliverySettingsError("\(configName): \(error)") }
            if let section = root["webhooks"] {
                guard let object = section.objectValue else { throw DeliverySettingsError("\(configName): webhooks: expected an object") }
                try settings.read(object, name: "\(configName): webhooks")
            }
        }
        if let text = environment["AFTERSALE_WEBHOOK_SECRET"], !text.isEmpty {
            do { settings.secrets = try WebhookSecret.secrets(from: text) } catch {
                throw DeliverySettingsError("AFTERSALE_WEBHOOK_SECRET: \(error)")
            }
        }
        return settings
    }

    private mutating func read(_ object: JSONObject, name: String) throws(DeliverySettingsError) {
        for member in object.members {
            let key = member.key, value = member.value, path = "\(name).\(key)"
            switch key {
            case "destinations":
                guard let list = value.arrayValue else { throw DeliverySettingsError("\(path): expected a list of destinations") }
                destinations = []
                for (i, item) in list.enumerated() {
                    guard let o = item.objectValue else { throw DeliverySettingsError("\(path)[\(i)]: expected an object") }
                    destinations.append(try DeliverySettings.destination(o, path: "\(path)[\(i)]"))
                }
                let names = destinations.map(\.name)
                if Set(names).count != names.count { throw DeliverySettingsError("\(path): two destinations have the same name; give each a `name`") }
            case "retry_schedule_seconds":
                guard let list = value.arrayValue else { throw DeliverySettingsError("\(path): expected a list of seconds") }
                retrySchedule = []
                for (i, item) in list.enumerated() {
                    guard let n = item.intValue, n >= 0 else { throw DeliverySettingsError("\(path)[\(i)]: expected whole seconds >= 0") }
                    retrySchedule.append(Double(n))
                }
            case "jitter":
                guard let n = value.doubleValue, n >= 0, n <= 1 else { throw DeliverySettingsError("\(path): expected a fraction from 0 to 1") }
                jitter = n
            case "links":
                guard let o = value.objectValue else { throw DeliverySettingsError("\(path): expected an object of templates") }
                for link in o.members {
                    guard let template = link.value.stringValue else { throw DeliverySettingsError("\(path).\(link.key): expected a template string") }
                    links[link.key] = template
                }
            case "interval_seconds":
                guard let n = value.doubleValue, n > 0, n <= 3_600 else { throw DeliverySettingsError("\(path): expected seconds from 0 to 3600") }
                intervalSeconds = n
            case "secret":
                guard let text = value.stringValue else { throw DeliverySettingsError("\(path): expected a string") }
                do { secrets = try WebhookSecret.secrets(from: text) } catch { throw DeliverySettingsError("\(path): \(error)") }
            default: throw DeliverySettingsError("\(path): unknown key")
            }
        }
    }

    private static func destination(_ o: JSONObject, path: String) throws(DeliverySettingsError) -> Destination {
        guard let url = o["url"]?.stringValue, url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw DeliverySettingsError("\(path).url: expected an http:// or https:// URL")
        }
        let host = url.split(separator: "/").dropFirst(1).first.map(String.init) ?? url
        var d = Destination(name: o["name"]?.stringValue ?? host, url: url)
        for member in o.members {
            let key = member.key, value = member.value
            switch key {
            case "url", "name": continue
            case "kinds":
                guard let list = value.arrayValue else { throw DeliverySettingsError("\(path).kinds: expected a list of command kinds") }
                for item in list {
                    guard let kind = item.stringValue.flatMap(CommandKind.init(rawValue:)) else {
                        throw DeliverySettingsError("\(path).kinds: \(JSONValue.array([item]).compactText) is not a command kind (\(CommandKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    d.kinds.insert(kind)
                }
            case "channels":
                guard let list = value.arrayValue else { throw DeliverySettingsError("\(path).channels: expected a list of channels") }
                for item in list {
                    guard let channel = item.stringValue.flatMap(Channel.init(rawValue:)) else {
                        throw DeliverySettingsError("\(path).channels: \(JSONValue.array([item]).compactText) is not a channel (email, sms, push)")
                    }
                    d.channels.insert(channel)
                }
            case "timeout_seconds":
                guard let n = value.doubleValue, n > 0, n <= 600 else { throw DeliverySettingsError("\(path).timeout_seconds: expected seconds from 0 to 600") }
                d.timeoutSeconds = n
            case "concurrency":
                guard let n = value.intValue, (1...1024).contains(n) else { throw DeliverySettingsError("\(path).concurrency: expected an integer from 1 to 1024") }
                d.concurrency = n
            default: throw DeliverySettingsError("\(path).\(key): unknown key")
            }
        }
        return d
    }
}
