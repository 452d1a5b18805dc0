public import AftersaleCore
internal import AftersaleSQLite
public import AftersaleStore
public import AftersaleOutbox
public import AftersaleReactor
public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// What one delivery run did.
public struct DeliveryRunSummary: Sendable {
    /// Commands released to delivery this run, and those the contact rules held back.
    public var released = 0
    public var suppressed = 0
    /// Released commands no destination takes: they stay pending.
    public var unrouted = 0
    /// Tries made, and how they ended.
    public var attempts = 0
    public var delivered = 0
    public var retrying = 0
    public var failed = 0
    /// Queued deliveries not sent because their command was cancelled or suppressed meanwhile.
    public var dropped = 0
    /// Destinations disabled by a 410 this run.
    public var disabled: [String] = []
    /// Seconds spent releasing (the contact rules judging each due command again, its body made
    /// and queued) and sending (from the first try to the last one recorded).
    public var releaseSeconds = 0.0
    /// The release was one page of the due commands (`Deliverer.customersPerRelease`) and more are
    /// left: run again soon.
    public var releaseLeftSome = false
    public var sendSeconds = 0.0

    public init() {}
}

/// How a try ended.
enum TryOutcome: Sendable {
    case answered(status: Int, retryAfter: Double?, body: String)
    case noAnswer(String)
}

/// Sends due commands as signed webhooks and records every try: used by `aftersale dispatch --to`
/// (one run from cron) and by `serve` (a run whenever the engine has run, and on the clock).
///
/// A run releases what is due (the contact rules judge each command again), queues it for its
/// destination with its body fixed, then sends what may go now: for each customer the first
/// command in due order, each destination with at most its concurrency in flight. A 2xx records
/// `action.dispatched`; 429, 5xx, a timeout or a refused connection schedules a retry (the
/// schedule, lengthened by jitter, or `Retry-After` when longer); any other 4xx, or the schedule
/// run out, records `action.suppressed`; 410 Gone also disables the destination.
///
/// At least once: nothing is recorded before the answer, so a crash between a POST and its record
/// sends the same `webhook-id` again; the hand-off events' ids derive from the command's, so a
/// second 2xx is not a second `action.dispatched`.
public final class Deliverer {
    public let settings: DeliverySettings
    /// The customers with a command due one release takes at most (nil: all of them), each release
    /// one transaction; the next release goes on from where this one stopped, and starts again
    /// from the earliest due once it has been through them all. The service sets it so that a
    /// backlog does not hold its intake back.
    public var customersPerRelease: Int?
    private var releasedUpTo: ReleaseCursor?
    let store: ReactorStore
    let queue: DeliveryQueue
    let client: HTTPClient
    /// The real time, Unix seconds: each try's `webhook-timestamp`, whatever the engine's clock says.
    let realSeconds: @Sendable () -> Int64

    public init(settings: DeliverySettings, store: ReactorStore, client: HTTPClient, realSeconds: @escaping @Sendable () -> Int64) throws {
        guard !settings.secrets.isEmpty else {
            throw DeliverySettingsError("no signing secret: set AFTERSALE_WEBHOOK_SECRET (whsec_ and base64 of 24 to 64 random bytes) or the config's webhooks.secret")
        }
        guard !settings.destinations.isEmpty else { throw DeliverySettingsError("no destination: give --to URL or the config's webhooks.destinations") }
        self.settings = settings
        self.store = store
        self.queue = try DeliveryQueue(log: store.log)
        self.client = client
        self.realSeconds = realSeconds
    }

    /// Releases what is due by `now` and sends what may go, until nothing more may go now.
    ///
    /// Blocking, on the caller's thread: the database work runs here (SQLite calls block, and
    /// belong on a thread of their own, not on the tasks' cooperative threads); only the HTTP
    /// requests go out on the client's event loops while this thread waits for them.
    public func run(now: Timestamp, engine: ReactorEngine) throws -> DeliveryRunSummary {
        let releasing = ContinuousClock.now
        var summary = try release(now: now, engine: engine)
        let sending = ContinuousClock.now
        summary.releaseSeconds = Deliverer.seconds(from: releasing, to: sending)
        let destinations = Dictionary(uniqueKeysWithValues: settings.destinations.map { ($0.name, $0) })
        // Handed to the sender at most: sixteen per connection, so that each destination has the
        // next ones to send while this thread records what came back. Tries are recorded in
        // batches of four per connection: one transaction each (tools/results/deliveries.md).
        let connections = settings.destinations.reduce(0) { $0 + $1.concurrency }
        let window = connections * 16, batch = connections * 4
        let sender = SendingPipeline(destinations: destinations, secrets: settings.secrets, client: client, realSeconds: realSeconds)
        defer { sender.close() }
        var inFlight = Set<String>()
        // Queued deliveries this run leaves where they are (their body cannot be opened here, or
        // their destination is not configured): not asked for again.
        var leftQueued = Set<String>()
        var exhausted = false
        while true {
            if !exhausted && inFlight.count < window {
                let wanted = window - inFlight.count
                let found = try queue.ready(now: now, limit: wanted + inFlight.count + leftQueued.count)
                    .filter { !inFlight.contains($0.command) && !leftQueued.contains($0.command) }
                let sendable = try prepare(Array(found.prefix(wanted)), destinations: destinations, leftQueued: &leftQueued, summary: &summary)
                // Fewer than asked for: all there is now, asked again only once a recorded try may
                // have let a customer's next command go. (As many as asked: there may be more.)
                exhausted = found.count < wanted
                sender.submit(sendable)
                inFlight.formUnion(sendable.map(\.command))
                if sendable.isEmpty && !exhausted { continue }
            }
            if inFlight.isEmpty { break }
            let finished = sender.take(atLeast: min(batch, inFlight.count))
            try store.log.database.inTransaction {
                for (delivery, sentAt, outcome) in finished {
                    inFlight.remove(delivery.command)
                    guard let outcome else { continue }
                    let disabled = summary.disabled.count
                    try record(delivery, sentAt: sentAt, outcome: outcome, now: now, summary: &summary)
                    if summary.disabled.count > disabled { sender.stop(delivery.destination) }
                }
            }
            exhausted = false
        }
        summary.sendSeconds = Deliverer.seconds(from: sending, to: .now)
        return summary
    }

    /// What of `ready` goes out now. A command cancelled or suppressed since it was queued (a later
    /// event made it moot) is dropped; a failed one sent again by hand (`redeliver`) is sent. Sealed
    /// bodies are opened just before sending: a forgotten customer's are dropped, and ones this
    /// process cannot open (keys unreadable) wait, as do those for a destination no longer configured.
    private func prepare(_ ready: [Delivery], destinations: [String: Destination], leftQueued: inout Set<String>,
                         summary: inout DeliveryRunSummary) throws -> [Delivery] {
        var ready = ready
        var dropped = Set<String>()
        try store.log.database.inTransaction {
            for delivery in ready {
                let status = try store.status(of: delivery.command)
                if status == "pending" || (status == "suppressed" && delivery.seriesFrom > 0) { continue }
                try queue.drop(delivery.command, because: "the command is \(status ?? "gone") since it was queued")
                dropped.insert(delivery.command)
            }
        }
        let vault = store.log.vault
        vault?.prepare(customers: ready.filter { !dropped.contains($0.command) && PersonalData.isSealed($0.body) }.map(\.customer))
        try store.log.database.inTransaction {
            for (i, delivery) in ready.enumerated() where !dropped.contains(delivery.command) && PersonalData.isSealed(delivery.body) {
                switch vault?.open(delivery.body, customer: delivery.customer, member: PersonalDataVault.deliveryBodyMember,
                                   eventID: delivery.command) ?? .unavailable {
                case .value(let v): ready[i].body = v.stringValue ?? ""
                case .erased:
                    try queue.drop(delivery.command, because: "the customer was forgotten")
                    dropped.insert(delivery.command)
                case .unavailable: leftQueued.insert(delivery.command)
                }
            }
        }
        summary.dropped += dropped.count
        var sendable: [Delivery] = []
        for delivery in ready where !dropped.contains(delivery.command) && !leftQueued.contains(delivery.command) {
            if destinations[delivery.destination] == nil { leftQueued.insert(delivery.command) } else { sendable.append(delivery) }
        }
        return sendable
    }

    static func seconds(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> Double {
        let d = (end - start).components
        return Double(d.seconds) + Double(d.attoseconds) / 1e18
    }

    /// The release: due commands judged again and queued for their destination.
    func release(now: Timestamp, engine: ReactorEngine) throws -> DeliveryRunSummary {
        var summary = DeliveryRunSummary()
        let inFlight = try queue.inFlight()
        let vault = store.log.vault
        let links = settings.links
        let page = customersPerRelease.map { (customers: $0, after: releasedUpTo) }
        let result = try store.releaseForDelivery(now: now, engine: engine, inFlight: inFlight, page: page) { released in
            // Each body opens the customer's profile and is sealed: their keys fetched together.
            vault?.prepare(customers: Array(Set(released.map(\.0.customer))))
            for (command, state) in released {
                guard let destination = settings.destination(for: command) else {
                    summary.unrouted += 1
                    continue
                }
                let revealed = state.map { $0.revealingPersonalData(with: vault).state }
                var body = JSONValue.object(DeliveryBody.make(command, state: revealed, links: links)).compactText
                // The queue keeps the body sealed like the log's personal data: forgetting the
                // customer leaves it unreadable, and it is dropped instead of sent.
                if let vault { body = try vault.seal(.string(body), customer: command.customer, member: PersonalDataVault.deliveryBodyMember, id: command.id) }
                try queue.enqueue(command.id, customer: command.customer, destination: destination.name, due: command.due, body: body, now: now)
            }
        }
        summary.released = result.released.count - summary.unrouted
        summary.suppressed = result.suppressed.count
        releasedUpTo = result.upTo
        summary.releaseLeftSome = result.upTo != nil
        return summary
    }

    /// An HTTP client for `settings`: as many connections per host as the most concurrent
    /// destination may use (the client's default, 8, would cap every destination at 8 requests in
    /// flight whatever its setting).
    public static func client(for settings: DeliverySettings) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, settings.destinations.map(\.concurrency).max() ?? 8)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// One signed POST.
    static func post(_ delivery: Delivery, to destination: Destination, timestamp: Int64, secrets: [WebhookSecret], client: HTTPClient) async -> TryOutcome {
        let body = Array(delivery.body.utf8)
        var request = HTTPClientRequest(url: destination.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "aftersale")
        request.headers.add(name: "webhook-id", value: delivery.command)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: StandardWebhooks.signatureHeader(id: delivery.command, timestamp: timestamp, body: body, secrets: secrets))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(destination.timeoutSeconds * 1000)))
            let text = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            let retryAfter = response.headers.first(name: "retry-after").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            return .answered(status: Int(response.status.code), retryAfter: retryAfter, body: String(text.prefix(500)))
        } catch {
            return .noAnswer(Deliverer.describe(error))
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            if error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout { return "timed out" }
            return "\(error)"
        }
        return "\(error)"
    }

    /// Records one try (inside the caller's transaction) and what follows from it.
    func record(_ delivery: Delivery, sentAt: Int64, outcome: TryOutcome, now: Timestamp, summary: inout DeliveryRunSummary) throws {
        summary.attempts += 1
        let number = delivery.attempts + 1
        var attempt = DeliveryAttempt(command: delivery.command, attempt: number, destination: delivery.destination, at: now, sentAt: sentAt,
                                      status: nil, error: nil, retryAt: nil)
        enum Next { case delivered, retry(after: Double?), fail(String), gone }
        let next: Next
        var lastResponse: String?
        switch outcome {
        case .answered(let status, let retryAfter, let body):
            attempt.status = status
            lastResponse = body
            switch status {
            case 200..<300: next = .delivered
            case 410: next = .gone
            case 429, 500..<600: next = .retry(after: retryAfter)
            default: next = .fail("answered \(status), which is not retried")
            }
        case .noAnswer(let why):
            attempt.error = why
            next = .retry(after: nil)
        }
        func history() throws -> JSONValue { .array(try queue.attempts(of: delivery.command).map(\.json)) }
        func fail(_ reason: String) throws {
            try queue.record(attempt, state: "failed")
            var details = JSONObject(["destination": .string(delivery.destination), "attempts": try history(), "failed": .bool(true)])
            if let status = attempt.status { details["status_code"] = .integer(status) }
            if let lastResponse { details["last_response"] = .string(lastResponse) }
            try store.recordDelivery(of: delivery.command, delivered: false, reason: "delivery to \(delivery.destination) failed: \(reason)",
                                     details: details, at: now, redelivered: delivery.seriesFrom > 0)
            summary.failed += 1
        }
        switch next {
        case .delivered:
            try queue.record(attempt, state: "delivered")
            try store.recordDelivery(of: delivery.command, delivered: true, reason: nil, details: JSONObject([
                "destination": .string(delivery.destination), "attempt": .integer(number), "status_code": .integer(attempt.status ?? 0),
                "attempts": try history(),
            ]), at: now, redelivered: delivery.seriesFrom > 0)
            summary.delivered += 1
        case .gone:
            try queue.disable(delivery.destination, at: now, reason: "answered 410 Gone to \(delivery.command)")
            summary.disabled.append(delivery.destination)
            try fail("answered 410 Gone; the destination is disabled until `aftersale destinations --enable \(delivery.destination)`")
        case .fail(let reason):
            try fail(reason)
        case .retry(let retryAfter):
            guard let wait = Deliverer.wait(after: number - delivery.seriesFrom, command: delivery.command, schedule: settings.retrySchedule,
                                            jitter: settings.jitter, retryAfter: retryAfter) else {
                let last = attempt.status.map { "answered \($0)" } ?? attempt.error ?? "no answer"
                try fail("\(number) tries, the last \(last)")
                return
            }
            attempt.retryAt = now.adding(millis: Int64((wait * 1000).rounded(.up)))
            try queue.record(attempt, state: "queued")
            summary.retrying += 1
        }
    }

    /// Seconds to wait after try `number` failed, or nil when the schedule has run out: the
    /// schedule's wait lengthened by up to `jitter` of itself (the same for the same command and
    /// try, so a rerun schedules alike), or `Retry-After` when that is longer.
    public static func wait(after number: Int, command: String, schedule: [Double], jitter: Double, retryAfter: Double?) -> Double? {
        guard number >= 1, number <= schedule.count else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in command.utf8 + [UInt8(truncatingIfNeeded: number)] {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let fraction = Double(hash % 10_000) / 10_000
        let base = schedule[number - 1] * (1 + jitter * fraction)
        return max(base, retryAfter ?? 0)
    }
}
