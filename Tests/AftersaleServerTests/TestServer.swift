import AftersaleCore
import AftersaleServer
import AftersaleStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// A server on a fresh database in a temporary folder, with a clock the test moves.
struct TestServer {
    static let token = "test-api-token"
    static let shopifySecret = "test-shopify-secret"
    static let segmentKey = "test-segment-key"

    let folder: URL
    let clock: ManualClock
    let parts: ServerParts
    var path: String { parts.settings.databasePath }

    init(token: String? = TestServer.token, shopify: String? = TestServer.shopifySecret, segment: String? = TestServer.segmentKey,
         now: String = "2026-01-01T00:00:00Z", configure: (inout ServerSettings) -> Void = { _ in }) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var settings = ServerSettings(databasePath: folder.appendingPathComponent("shop.db").path)
        settings.apiToken = token
        settings.shopifySecret = shopify
        settings.segmentWriteKey = segment
        settings.port = 0
        settings.threads = 1
        configure(&settings)
        clock = ManualClock(try Timestamp.parse(now))
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        parts = try AftersaleServer.start(settings: settings, clock: clock, logger: logger)
    }

    /// Runs `body` against the application (router tests by default; `.live` over loopback).
    func test(_ setup: TestingSetup = .router, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        defer {
            parts.stop()
            try? FileManager.default.removeItem(at: folder)
        }
        try await AftersaleServer.application(parts).test(setup, body)
    }
}

let bearer: HTTPFields = [.authorization: "Bearer \(TestServer.token)"]

extension TestResponse {
    var text: String { String(buffer: body) }
    var object: JSONValue { (try? JSONParser.parse(text)) ?? .null }
}

extension JSONValue {
    /// `results[i].outcome` of an intake answer.
    var outcomes: [String] { self["results"]?.arrayValue?.compactMap { $0["outcome"]?.stringValue } ?? [] }
}

func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

/// Waits (up to a few seconds) until the engine has caught up with the log.
func waitUntilReady(_ client: any TestClientProtocol) async throws {
    for _ in 0..<200 {
        let ready = try await client.execute(uri: "/readyz", method: .get) { $0.status == .ok }
        if ready { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("the engine did not catch up")
}

/// An order as a catalogue envelope line.
func orderLine(id: String, customer: String, order: String, at: String = "2025-12-01T10:00:00Z", total: String = "30.00",
               sku: String = "TEA-1") -> String {
    #"{"id":"\#(id)","type":"order.placed","customer":"\#(customer)","at":"\#(at)","data":{"order":"\#(order)","total":"\#(total)","currency":"EUR","lines":[{"sku":"\#(sku)","quantity":1,"price":"\#(total)"}]}}"#
}
