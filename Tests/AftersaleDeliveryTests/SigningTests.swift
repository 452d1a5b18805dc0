@testable import AftersaleDelivery
import AftersaleCore
import AftersaleReactor
import Foundation
import Testing

@Suite("Standard Webhooks signatures")
struct SigningTests {
    // The test vector of the Standard Webhooks reference libraries (standard-webhooks/standard-webhooks,
    // and Svix's libraries from which they come: their "sign function works" tests).
    static let vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let vectorID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let vectorTimestamp: Int64 = 1_614_265_330
    static let vectorBody = Array(#"{"test": 2432232314}"#.utf8)

    @Test("the reference libraries' published vector gives their signature")
    func publishedVector() throws {
        let secret = try WebhookSecret(SigningTests.vectorSecret)
        #expect(StandardWebhooks.signature(id: SigningTests.vectorID, timestamp: SigningTests.vectorTimestamp, body: SigningTests.vectorBody, secret: secret)
            == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test("a rotation sends both signatures, and a receiver holding either secret accepts; anything changed fails")
    func rotationAndTampering() throws {
        let old = WebhookSecret(key: Array(repeating: 7, count: 32)), new = WebhookSecret(key: Array(repeating: 9, count: 32))
        let body = Array(#"{"id":"review_request:e-1"}"#.utf8)
        let header = StandardWebhooks.signatureHeader(id: "review_request:e-1", timestamp: 1_800_000_000, body: body, secrets: [old, new])
        #expect(header.split(separator: " ").count == 2)
        for secret in [old, new] {
            #expect(StandardWebhooks.verify(id: "review_request:e-1", timestamp: 1_800_000_000, body: body, header: header, secret: secret, now: 1_800_000_010))
        }
        let other = WebhookSecret(key: Array(repeating: 1, count: 32))
        #expect(!StandardWebhooks.verify(id: "review_request:e-1", timestamp: 1_800_000_000, body: body, header: header, secret: other, now: 1_800_000_000))
        var changed = body
        changed[3] ^= 1
        #expect(!StandardWebhooks.verify(id: "review_request:e-1", timestamp: 1_800_000_000, body: changed, header: header, secret: old, now: 1_800_000_000))
        #expect(!StandardWebhooks.verify(id: "review_request:e-2", timestamp: 1_800_000_000, body: body, header: header, secret: old, now: 1_800_000_000))
        #expect(!StandardWebhooks.verify(id: "review_request:e-1", timestamp: 1_800_000_000, body: body, header: header, secret: old, now: 1_800_000_301))
        // A timestamp at Int64's ends is refused, not a crash.
        #expect(!StandardWebhooks.verify(id: "review_request:e-1", timestamp: .min, body: body, header: header, secret: old, now: 1_800_000_000))
        #expect(!StandardWebhooks.verify(id: "review_request:e-1", timestamp: .max, body: body, header: header, secret: old, now: -1))
    }

    @Test("a secret that is not whsec_ and base64 of 24 to 64 bytes is refused, without echoing it",
          arguments: ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_" + Data(count: 16).base64EncodedString(),
                      "whsec_" + Data(count: 65).base64EncodedString()])
    func badSecrets(text: String) {
        do {
            _ = try WebhookSecret(text)
            Issue.record("\(text.count) characters accepted")
        } catch {
            #expect(!"\(error)".contains(text))
        }
    }
}

@Suite("Retries and bodies")
struct DeliveryPolicyTests {
    @Test("each wait is the schedule's, lengthened by less than the jitter, alike for the same try; Retry-After wins when longer; none after the last")
    func waits() {
        let schedule: [Double] = [5, 300, 1_800]
        for number in 1...3 {
            let wait = Deliverer.wait(after: number, command: "c-1", schedule: schedule, jitter: 0.2, retryAfter: nil)!
            #expect(wait >= schedule[number - 1] && wait < schedule[number - 1] * 1.2)
            #expect(wait == Deliverer.wait(after: number, command: "c-1", schedule: schedule, jitter: 0.2, retryAfter: nil))
        }
        let spread = Set((0..<50).map { Deliverer.wait(after: 2, command: "c-\($0)", schedule: schedule, jitter: 0.2, retryAfter: nil)! })
        #expect(spread.count > 40, "commands failing together retry apart")
        #expect(Deliverer.wait(after: 1, command: "c-1", schedule: schedule, jitter: 0.2, retryAfter: 120) == 120)
        #expect(Deliverer.wait(after: 4, command: "c-1", schedule: schedule, jitter: 0.2, retryAfter: nil) == nil)
    }

    @Test("link templates are filled from the command, URL-encoded; one naming a field the command lacks is left out")
    func links() throws {
        let command = Command(id: "review_request:e-1:o-1", customer: "c 1", kind: .reviewRequest, channel: .email,
                              due: try Timestamp.parse("2026-03-01T10:00:00Z"), payload: JSONObject(["order": .string("o-1"), "skus": .array([.string("TEA/1")])]),
                              reason: "r", trigger: "e-1")
        let body = DeliveryBody.make(command, state: nil, links: [
            "review": "https://shop.example/review?order={order}&sku={sku}", "coupon": "https://shop.example/c/{coupon}",
        ])
        #expect(body["links"]?["review"]?.stringValue == "https://shop.example/review?order=o-1&sku=TEA%2F1")
        #expect(body["links"]?["coupon"] == nil)
        #expect(body["recipient"]?["customer"]?.stringValue == "c 1")
        #expect(body["items"]?.arrayValue?.first?["sku"]?.stringValue == "TEA/1")
    }

    @Test("destinations from the config: a command goes to the first that takes its kind and channel; bad settings name the key")
    func settings() throws {
        // One file for everything: the reactor's own `delivery` section (late shipments) beside `webhooks`.
        let config = #"""
        {"delivery": {"late_after_hours": 30}, "webhooks": {"destinations": [
            {"name": "sms-gateway", "url": "https://sms.example/hook", "channels": ["sms"]},
            {"name": "mailer", "url": "https://mail.example/hook", "concurrency": 4}
        ], "retry_schedule_seconds": [1, 2]}}
        """#
        let settings = try DeliverySettings.load(configText: config, environment: ["AFTERSALE_WEBHOOK_SECRET": SigningTests.vectorSecret])
        #expect(settings.secrets.count == 1 && settings.retrySchedule == [1, 2])
        #expect(try ReactorConfiguration.load(json: config).delivery.lateAfterHours == 30)
        let sms = Command(id: "x", customer: "c", kind: .dispatchNotice, channel: .sms, due: Timestamp(millis: 0), payload: JSONObject(), reason: "r", trigger: "t")
        var email = sms
        email.channel = .email
        #expect(settings.destination(for: sms)?.name == "sms-gateway")
        #expect(settings.destination(for: email)?.name == "mailer")
        #expect(throws: DeliverySettingsError.self) {
            try DeliverySettings.load(configText: #"{"webhooks": {"destinations": [{"url": "ftp://x"}]}}"#, environment: [:])
        }
        do {
            _ = try DeliverySettings.load(configText: nil, environment: ["AFTERSALE_WEBHOOK_SECRET": "whsec_short"])
            Issue.record("a bad secret was accepted")
        } catch {
            #expect("\(error)".contains("AFTERSALE_WEBHOOK_SECRET") && !"\(error)".contains("whsec_short"))
        }
    }

    @Test("a body has the schema's required members and no member the schema lacks, at the top and in the recipient; so has the shipped example")
    func bodyFollowsTheSchema() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let schema = try JSONParser.parse(try String(contentsOf: root.appendingPathComponent("events/delivery/command.schema.json"), encoding: .utf8))
        let example = try JSONParser.parse(try String(contentsOf: root.appendingPathComponent("events/delivery/command.example.json"), encoding: .utf8))
        var state = CustomerState(customer: "c-1")
        state.email = "ana@example.com"
        state.name = "Ana"
        state.timeZone = "Europe/Lisbon"
        let command = Command(id: "review_request:e-1:o-1", customer: "c-1", kind: .reviewRequest, channel: .email,
                              due: Timestamp(millis: 1_800_000_000_000), payload: JSONObject(["order": .string("o-1"), "sku": .string("TEA-1")]),
                              reason: "r", trigger: "e-1")
        let made = JSONValue.object(DeliveryBody.make(command, state: state, links: ["review": "https://s.example/r?o={order}"]))
        for body in [made, example] {
            for (object, part) in [(body, schema), (body["recipient"]!, schema["properties"]!["recipient"]!)] {
                let allowed = Set(part["properties"]!.objectValue!.keys)
                let required = Set(part["required"]!.arrayValue!.compactMap(\.stringValue))
                let keys = Set(object.objectValue!.keys)
                #expect(keys.isSubset(of: allowed), "\(keys.subtracting(allowed))")
                #expect(required.isSubset(of: keys), "\(required.subtracting(keys))")
            }
            #expect(schema["properties"]!["kind"]!["enum"]!.arrayValue!.contains(body["kind"]!))
        }
        #expect(made["links"]?["review"]?.stringValue == "https://s.example/r?o=o-1")
    }
}

