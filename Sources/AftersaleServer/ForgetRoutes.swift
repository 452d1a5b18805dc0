import AftersaleAnalytics
import AftersaleCore
import AftersaleOutbox
import AftersaleSources
import AftersaleStore
import Foundation
import Hummingbird

/// Erasure and access requests: `POST /v1/customers/{id}/forget`, `GET /v1/customers/{id}/personal-data`,
/// and Shopify's mandatory `customers/redact` and `shop/redact` acted on once recorded.
extension Routes {
    static func addPrivacyRoutes(to router: Router<BasicRequestContext>, _ parts: ServerParts) {
        router.post("/v1/customers/{id}/forget") { request, context in
            if let denied = bearerDenied(request, parts) { return denied }
            let id = try context.parameters.require("id")
            let body = try await collect(request, parts)
            var reason: String?
            if !body.isEmpty {
                guard case .object(let o)? = try? JSONParser.parse(String(decoding: body, as: UTF8.self)) else {
                    return failure(.badRequest, "body: expected a JSON object such as {\"reason\": \"ticket 4711\"}, or none")
                }
                if let r = o["reason"] {
                    guard let text = r.stringValue else { return failure(.badRequest, "reason: expected a string") }
                    reason = text
                }
            }
            guard id != EventType.systemCustomer else { return failure(.badRequest, "id: \(EventType.systemCustomer) is not a customer") }
            let now = parts.clock.now()
            let outcome: ForgetOutcome
            do {
                outcome = try await forget(id, reason: reason, request: "api", eventID: "forget:\(id):\(now.millis)", at: now, parts)
            } catch let error as StoreError where error.code == .personalDataUnavailable {
                return failure(.serviceUnavailable, "cannot forget: \(error.message)")
            }
            return json(.ok, outcomeJSON(id, outcome))
        }

        router.get("/v1/customers/{id}/personal-data") { request, context in
            if let denied = bearerDenied(request, parts) { return denied }
            let id = try context.parameters.require("id")
            let text = try await parts.reads.read { log in try PersonalDataReport.json(of: id, from: log) }
            guard let text else { return failure(.notFound, "no events for this customer") }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
        }
    }

    static func outcomeJSON(_ customer: String, _ outcome: ForgetOutcome) -> JSONValue {
        var o = JSONObject()
        o["customer"] = .string(customer)
        o["key_deleted"] = .bool(outcome.keyDeleted)
        o["had_events"] = .bool(outcome.hadEvents)
        o["rejects_removed"] = .integer(outcome.rejectsRemoved)
        let (name, position): (String, Int64) = switch outcome.event {
        case .appended(let position, _): ("appended", position)
        case .duplicate(let position): ("duplicate", position)
        case .conflict(let position): ("conflict", position)
        }
        o["event"] = .object(JSONObject(["outcome": .string(name), "position": .integer(Int(position))]))
        return .object(o)
    }

    /// Forgets one customer on a connection of the read pool (a short write beside the intake's),
    /// then wakes the engine, which cancels their pending commands.
    static func forget(_ customer: String, reason: String?, request: String, eventID: String, at: Timestamp,
                       _ parts: ServerParts) async throws -> ForgetOutcome {
        let outcome = try await parts.reads.read { log in
            try ReactorStore(log: log, parallelism: 1).forget(customer, reason: reason, request: request, id: eventID, at: at)
        }
        parts.metrics.countForgotten()
        // Never the id: it is the person's.
        parts.logger.info("customer forgotten", metadata: ["request": "\(request)", "key_deleted": "\(outcome.keyDeleted)"])
        parts.engine.wake()
        return outcome
    }

    /// After a Shopify `customers/redact` or `shop/redact` was recorded: forgets the customer, or
    /// every customer of the shop (those with the shop's prefix; all of them without one). Each
    /// forgetting's event id derives from the request's, so a retried webhook forgets nothing twice.
    static func actOnShopifyRedaction(topic: String, mapped: MappingResult, _ parts: ServerParts) async {
        guard topic == "customers/redact" || topic == "shop/redact", case .events(let events) = mapped else { return }
        for event in events {
            guard case .object(let o)? = try? JSONParser.parse(event.line), o["type"]?.stringValue == EventType.privacyRequested.rawValue,
                  let customer = o["customer"]?.stringValue, let requestID = o["id"]?.stringValue else { continue }
            let now = parts.clock.now()
            do {
                if customer != EventType.systemCustomer {
                    _ = try await forget(customer, reason: nil, request: topic, eventID: "forget:\(requestID)", at: now, parts)
                    continue
                }
                let prefix = parts.settings.shopifyCustomerPrefix
                let customers = try await parts.reads.read { log in try log.customers(withPrefix: prefix) }
                parts.logger.info("shop redaction: forgetting the shop's customers", metadata: ["customers": "\(customers.count)"])
                for c in customers {
                    _ = try await forget(c, reason: nil, request: topic, eventID: "forget:\(requestID):\(c)", at: now, parts)
                }
            } catch {
                // Recorded as privacy.requested all the same; `aftersale forget` finishes the job.
                parts.logger.error("a Shopify redaction could not be carried out", metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
        }
    }
}
