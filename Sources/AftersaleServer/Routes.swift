import AftersaleAnalytics
import AftersaleCore
import AftersaleOutbox
import AftersaleSources
import AftersaleStore
import Crypto
import Foundation
public import Hummingbird
import HTTPTypes
public import Logging

/// What the routes share.
public struct ServerParts: Sendable {
    public var settings: ServerSettings
    public var intake: Intake
    public var engine: LiveEngine
    /// Delivery of commands as webhooks, when a destination is configured.
    public var delivery: DeliveryService?
    public var metrics: ServerMetrics
    public var clock: any ServerClock
    public var logger: Logger
    let reads: ReadPool

    public init(settings: ServerSettings, intake: Intake, engine: LiveEngine, delivery: DeliveryService? = nil, metrics: ServerMetrics,
                clock: any ServerClock, logger: Logger) {
        self.settings = settings
        self.intake = intake
        self.engine = engine
        self.delivery = delivery
        self.metrics = metrics
        self.clock = clock
        self.logger = logger
        self.reads = ReadPool(path: settings.databasePath, cacheMebibytes: settings.cacheMebibytesPerConnection, writerTurns: intake.writerTurns)
    }
}

/// An answer with a JSON body.
func json(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: value.compactText + "\n")))
}

/// An error answer: `{"error": why}`.
func failure(_ status: HTTPResponse.Status, _ why: String, headers: HTTPFields = [:]) -> Response {
    json(status, .object(JSONObject(["error": .string(why)])), headers: headers)
}

/// Compares secrets in time that does not depend on where they differ.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}

extension HTTPField.Name {
    static let shopifyHmac = HTTPField.Name("X-Shopify-Hmac-Sha256")!
    static let shopifyTopic = HTTPField.Name("X-Shopify-Topic")!
}

/// The routes of `aftersale serve`.
public enum Routes {
    public static func router(_ parts: ServerParts) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestMetrics(metrics: parts.metrics))

        router.get("/healthz") { _, _ in json(.ok, .object(JSONObject(["status": "ok"]))) }
        router.get("/readyz") { _, _ in
            guard parts.settings.liveEngine else {
                // No live engine: ready as soon as the intake takes events.
                return json(.ok, .object(JSONObject(["ready": true, "live_engine": false])))
            }
            let s = parts.engine.status
            // Against what this server appended too: the engine's last run may predate it.
            let head = max(s.head, parts.intake.lastAppended)
            let ready = s.isCaughtUp(through: head)
            let body = JSONValue.object(JSONObject([
                "ready": .bool(ready), "log_head": .integer(Int(head)),
                "projection_lag": .integer(Int(max(0, head - s.projection))), "reactor_lag": .integer(Int(max(0, head - s.reactor))),
                "error": s.lastError.map { .string($0) } ?? .null, "judging_everyone": .bool(s.judgingEveryone),
            ]))
            return json(ready ? .ok : .serviceUnavailable, body)
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(bytes: parts.metrics.text())))
        }

        router.post("/v1/events") { request, context in
            if let denied = bearerDenied(request, parts) { return denied }
            let body = try await collect(request, parts)
            var reader = RequestItems(now: parts.clock.now(), source: "api")
            let items: [RequestItem]
            do { items = try reader.envelopes(body) } catch { return failure(.badRequest, "\(error)") }
            return try await commit(items, source: "api", parts)
        }

        router.get("/v1/customers/{id}") { request, context in
            if let denied = bearerDenied(request, parts) { return denied }
            let id = try context.parameters.require("id")
            let now = parts.clock.now()
            let text = try await parts.reads.read { log in
                try CustomerProfile.load(id, from: log, at: now)?.json
            }
            guard let text else { return failure(.notFound, "no events for this customer") }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
        }

        router.get("/v1/actions") { request, context in
            if let denied = bearerDenied(request, parts) { return denied }
            let customer = request.uri.queryParameters["customer"].map(String.init)
            let status = request.uri.queryParameters["status"].map(String.init) ?? "pending"
            guard status == "pending" || status == "all" else { return failure(.badRequest, "status: expected pending or all") }
            let now = parts.clock.now()
            // As `aftersale actions`: pending commands older than the catch-up window are not listed as due.
            let window = now.adding(days: -Double(parts.settings.reactor.clock.catchUpDays))
            let lines = try await parts.reads.read { log in
                let store = try ReactorStore(log: log)
                return try store.commands(customer: customer, pendingDueBy: status == "pending" ? now : nil,
                                          dueFrom: status == "pending" ? window : nil).map { $0.jsonText() + "\n" }.joined()
            }
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: .init(byteBuffer: ByteBuffer(string: lines)))
        }

        router.get("/v1/rejects") { request, context in
            if let denied = bearerDenied(request, parts) { return denied }
            let source = request.uri.queryParameters["source"].map(String.init)
            let after = request.uri.queryParameters["after"].flatMap { Int64(String($0)) } ?? 0
            let limit = min(request.uri.queryParameters["limit"].flatMap { Int(String($0)) } ?? 100, 1000)
            let rejects = try await parts.reads.read { log in try log.rejects(source: source, after: after, limit: limit) }
            return json(.ok, .object(JSONObject([
                "rejects": .array(rejects.map(\.json)),
                "next_after": rejects.last.map { .integer(Int($0.id)) } ?? .null,
            ])))
        }

        addSourceRoutes(to: router, parts)
        addPrivacyRoutes(to: router, parts)
        return router
    }

    /// The body, up to the configured size (413 above it).
    static func collect(_ request: Request, _ parts: ServerParts) async throws -> [UInt8] {
        let buffer = try await request.body.collect(upTo: parts.settings.maxBodyBytes)
        return Array(buffer.readableBytesView)
    }

    /// nil when the bearer token is right; else the answer (401, or 503 when no token is set).
    static func bearerDenied(_ request: Request, _ parts: ServerParts) -> Response? {
        guard let token = parts.settings.apiToken else {
            parts.logger.warning("an API request came, but AFTERSALE_API_TOKEN is not set: answered 503")
            return failure(.serviceUnavailable, "the API is not configured on this server (no API token is set)")
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              constantTimeEquals(Array(header.dropFirst("Bearer ".count).utf8), Array(token.utf8)) else {
            return failure(.unauthorized, "expected Authorization: Bearer with the API token",
                           headers: [.wwwAuthenticate: "Bearer realm=\"aftersale\""])
        }
        return nil
    }

    /// The user name of HTTP Basic auth.
    static func basicUser(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst("Basic ".count))),
              let text = String(data: decoded, encoding: .utf8) else { return nil }
        return String(text.prefix { $0 != ":" })
    }

    /// Commits the items and answers with each one's outcome: 200 when all are in the log, 409 when
    /// one conflicts with an event of the same id, 422 when one was rejected (and kept).
    static func commit(_ items: [RequestItem], source: String, _ parts: ServerParts, ignored: Int = 0) async throws -> Response {
        let outcomes: [IntakeOutcome]
        do { outcomes = try await parts.intake.submit(items.map(\.item)) } catch {
            parts.logger.error("intake commit failed", metadata: ["error": "\(error)"])
            return failure(.serviceUnavailable, "the events could not be committed; nothing of this request was kept: send it again",
                           headers: [.retryAfter: "1"])
        }
        let answer = OutcomesAnswer(items: items, outcomes: outcomes, ignored: ignored)
        for (name, n) in answer.counts where n > 0 { parts.metrics.countEvent(source: source, outcome: name, by: n) }
        // Counts only: ids and texts may hold personal data.
        parts.logger.debug("events committed", metadata: ["source": "\(source)", "outcomes": "\(answer.countsByName)"])
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: answer.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.text)))
    }
}

/// The answer to a commit: each item's outcome in order, then how many had each outcome.
///
/// Written straight into bytes, in the key order a `JSONObject` built member by member would have:
/// a batch's answer is a few hundred small objects, and building them as a tree of values took
/// about as many instructions as the intake's writer spent appending the events.
struct OutcomesAnswer {
    static let names = ["appended", "duplicate", "conflict", "skipped", "rejected"]
    /// The bytes that end an item of each outcome, and that name each count: the same for every
    /// answer, so made once (a single event's answer spent most of its time writing them).
    static let outcomeEnds = names.map { Array(#","outcome":"\#($0)"}"#.utf8) }
    static let countKeys = names.map { Array(#","\#($0)":"#.utf8) }

    /// `n` in decimal, as `String(n)` writes it, without making the string.
    static func appendDecimal(_ n: Int64, to text: inout [UInt8]) {
        if n < 0 { text.append(UInt8(ascii: "-")) }
        var rest = n.magnitude
        var digits = 1
        var power: UInt64 = 10
        while digits < 20 && rest >= power {
            digits += 1
            power = power &* 10
        }
        let start = text.count
        text.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        text.withUnsafeMutableBufferPointer { text in
            for i in stride(from: start + digits - 1, through: start, by: -1) {
                text[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
        }
    }
    /// How many items had each of `names`, in that order.
    private(set) var counts: [(name: String, count: Int)] = OutcomesAnswer.names.map { ($0, 0) }
    private(set) var text: [UInt8] = []

    var countsByName: [String: Int] { Dictionary(uniqueKeysWithValues: counts.filter { $0.count > 0 }.map { ($0.name, $0.count) }) }

    /// 422 when an item was rejected (and kept), 409 when one conflicts with a logged event, else 200.
    var status: HTTPResponse.Status { counts[4].count > 0 ? .unprocessableContent : counts[2].count > 0 ? .conflict : .ok }

    init(items: [RequestItem], outcomes: [IntakeOutcome], ignored: Int = 0) {
        text.reserveCapacity(96 + items.count * 112)  // the counts, and an appended item with its origin and id
        func key(_ name: StaticString) {
            text.append(UInt8(ascii: ","))
            text.append(UInt8(ascii: "\""))
            text.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            text.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func number<T: BinaryInteger>(_ n: T) { OutcomesAnswer.appendDecimal(Int64(n), to: &text) }
        text.append(contentsOf: #"{"results":["#.utf8)
        for (index, (item, outcome)) in zip(items, outcomes).enumerated() {
            if index > 0 { text.append(UInt8(ascii: ",")) }
            text.append(contentsOf: #"{"origin":"#.utf8)
            JSONValue.writeString(item.origin, into: &text)
            if let id = item.id {
                key("id")
                JSONValue.writeString(id, into: &text)
            }
            let kind: Int
            switch outcome {
            case .appended(let position):
                kind = 0
                key("position")
                number(position)
            case .duplicate(let position):
                kind = 1
                key("position")
                number(position)
            case .conflict(let position):
                kind = 2
                key("position")
                number(position)
                key("reason")
                JSONValue.writeString("an event with this id and different content is in the log at position \(position)", into: &text)
            case .skipped:
                kind = 3
            case .rejected(let reject):
                kind = 4
                key("reject")
                number(reject)
                if let e = item.rejection {
                    key("field")
                    JSONValue.writeString(e.field, into: &text)
                    key("reason")
                    JSONValue.writeString(e.reason, into: &text)
                }
            }
            text.append(contentsOf: OutcomesAnswer.outcomeEnds[kind])
            counts[kind].count += 1
        }
        text.append(UInt8(ascii: "]"))
        for (kind, (_, count)) in counts.enumerated() {
            text.append(contentsOf: OutcomesAnswer.countKeys[kind])
            number(count)
        }
        if ignored > 0 {
            key("ignored")
            number(ignored)
        }
        text.append(contentsOf: "}\n".utf8)
    }
}

extension Optional where Wrapped == String {
    var orEmpty: String { self ?? "" }
}

/// Times every request by its route pattern (never its path: ids in paths would make a series
/// per customer).
struct RequestMetrics<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let route = context.endpointPath ?? "unmatched"
        func record(_ status: Int) {
            metrics.recordRequest(route: route, method: request.method.rawValue, status: status,
                                  nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - start))
        }
        do {
            let response = try await next(request, context)
            record(response.status.code)
            return response
        } catch let error as any HTTPResponseError {
            record(error.status.code)
            throw error
        } catch {
            record(500)
            throw error
        }
    }
}

extension ServerParts {
    /// Stops the intake (after committing what is queued) and the engine (after its run).
    public func stop() {
        delivery?.stop()
        intake.stop()
        engine.stop()
    }
}
