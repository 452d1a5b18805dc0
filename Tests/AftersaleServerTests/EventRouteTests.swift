import AftersaleCore
import AftersaleServer
import AftersaleStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("POST /v1/events: our envelope over HTTP")
struct EventRouteTests {
    @Test("events are appended, a resend is a duplicate, a changed resend a 409 naming the original's position")
    func appendDuplicateConflict() async throws {
        let server = try TestServer()
        try await server.test { client in
            let two = orderLine(id: "e1", customer: "c1", order: "o1") + "\n" + orderLine(id: "e2", customer: "c2", order: "o2") + "\n"
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(two)) { r in
                #expect(r.status == .ok)
                #expect(r.object.outcomes == ["appended", "appended"])
                #expect(r.object["results"]?.arrayValue?.map { $0["position"]?.intValue } == [1, 2])
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(two)) { r in
                #expect(r.status == .ok)
                #expect(r.object.outcomes == ["duplicate", "duplicate"])
            }
            let changed = orderLine(id: "e2", customer: "c2", order: "o2", total: "31.00")
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(changed)) { r in
                #expect(r.status == .conflict)
                #expect(r.object.outcomes == ["conflict"])
                #expect(r.object["results"]?.arrayValue?.first?["position"]?.intValue == 2)
            }
        }
    }

    @Test("a JSON array of envelopes is taken as well as NDJSON")
    func jsonArray() async throws {
        let server = try TestServer()
        try await server.test { client in
            let body = "[" + orderLine(id: "a1", customer: "c1", order: "o1") + "," + orderLine(id: "a2", customer: "c1", order: "o2") + "]"
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(body)) { r in
                #expect(r.status == .ok)
                #expect(r.object.outcomes == ["appended", "appended"])
                #expect(r.object["results"]?.arrayValue?.map { $0["origin"]?.stringValue } == ["[0]", "[1]"])
            }
        }
    }

    @Test("a rejected event answers 422 with field and why, is kept with its text, and the rest of the request is appended")
    func rejectedIsKept() async throws {
        let server = try TestServer()
        try await server.test { client in
            let bad = #"{"id":"bad-1","type":"order.placed","customer":"c9","at":"2025-12-01T10:00:00Z","data":{"total":"5.00","currency":"EUR","lines":[]}}"#
            let body = orderLine(id: "ok-1", customer: "c1", order: "o1") + "\n" + bad + "\n"
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(body)) { r in
                #expect(r.status == .unprocessableContent)
                #expect(r.object.outcomes == ["appended", "rejected"])
                let rejected = r.object["results"]?.arrayValue?[1]
                #expect(rejected?["field"]?.stringValue == "data.order")
                #expect(rejected?["id"]?.stringValue == "bad-1")
                #expect(rejected?["origin"]?.stringValue == "line 2")
            }
            try await client.execute(uri: "/v1/rejects", method: .get, headers: bearer) { r in
                #expect(r.status == .ok)
                let rejects = r.object["rejects"]?.arrayValue ?? []
                #expect(rejects.count == 1)
                #expect(rejects.first?["raw"]?.stringValue == bad)
                #expect(rejects.first?["source"]?.stringValue == "api")
                #expect(rejects.first?["reason"]?.stringValue?.hasPrefix("data.order:") == true)
            }
        }
    }

    @Test("a line that is not JSON fails the request with 400 naming the line, and nothing of it is appended")
    func notJSON() async throws {
        let server = try TestServer()
        try await server.test { client in
            let body = orderLine(id: "n1", customer: "c1", order: "o1") + "\n# a comment\n{\"id\": oops}\n"
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(body)) { r in
                #expect(r.status == .badRequest)
                #expect(r.object["error"]?.stringValue?.hasPrefix("line 3: not JSON") == true)
            }
            // The first line was not appended: sent again alone, it is new.
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(orderLine(id: "n1", customer: "c1", order: "o1"))) { r in
                #expect(r.object.outcomes == ["appended"])
            }
        }
    }

    @Test("lines end with LF or CRLF, blank lines and comments are skipped, and the last line needs no newline")
    func lineEndings() async throws {
        let server = try TestServer()
        try await server.test { client in
            let bad = #"{"id":"crlf-bad","type":"order.placed","customer":"c9","at":"2025-12-01T10:00:00Z","data":{"total":"5.00","currency":"EUR","lines":[]}}"#
            let body = orderLine(id: "crlf-1", customer: "c1", order: "o1") + "\r\n\r\n# a comment\r\n" + bad + "\r\n\n"
                + orderLine(id: "crlf-2", customer: "c2", order: "o2")
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(body)) { r in
                #expect(r.status == .unprocessableContent)
                #expect(r.object.outcomes == ["appended", "rejected", "appended"])
                #expect(r.object["results"]?.arrayValue?.map { $0["origin"]?.stringValue } == ["line 1", "line 4", "line 6"])
            }
            try await client.execute(uri: "/v1/rejects", method: .get, headers: bearer) { r in
                // Kept as sent, without the line's CR.
                #expect(r.object["rejects"]?.arrayValue?.first?["raw"]?.stringValue == bad)
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer("\r\n\n")) { r in
                #expect(r.status == .ok)
                #expect(r.object.outcomes == [])
            }
        }
    }

    @Test("401 without the token or with a wrong one; 503 when the server has none; 413 over the size limit")
    func authAndLimits() async throws {
        let server = try TestServer { $0.maxBodyBytes = 1000 }
        try await server.test { client in
            let line = orderLine(id: "x", customer: "c", order: "o")
            try await client.execute(uri: "/v1/events", method: .post, body: buffer(line)) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Bearer wrong"], body: buffer(line)) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/customers/c", method: .get, headers: [.authorization: "Basic abc"]) { #expect($0.status == .unauthorized) }
            let big = String(repeating: line + "\n", count: 10)
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(big)) { #expect($0.status == .contentTooLarge) }
        }
        let closed = try TestServer(token: nil)
        try await closed.test { client in
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer("{}")) { r in
                #expect(r.status == .serviceUnavailable)
            }
            try await client.execute(uri: "/v1/actions", method: .get, headers: bearer) { #expect($0.status == .serviceUnavailable) }
        }
    }
}

@Suite("reads, health and metrics")
struct ReadRouteTests {
    @Test("/metrics tells the lags as of the scrape, as /readyz does, not as the engine's last run ended")
    func lagsAsOfNow() async throws {
        let server = try TestServer()
        try await server.test { client in
            try await waitUntilReady(client)
            // The engine stopped (as if in a long run): what comes now waits for it.
            server.parts.engine.stop()
            let lines = (1...3).map { orderLine(id: "lag-\($0)", customer: "c-\($0)", order: "o-\($0)") }.joined(separator: "\n")
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(lines)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { r in
                #expect(r.status == .serviceUnavailable)
                #expect(r.object["reactor_lag"]?.intValue == 3)
                #expect(r.object["judging_everyone"] == .bool(false))
            }
            try await client.execute(uri: "/metrics", method: .get) { r in
                #expect(r.text.contains("aftersale_reactor_lag_events 3"), "\(r.text)")
                #expect(r.text.contains("aftersale_projection_lag_events 3"))
            }
        }
    }

    @Test("after the engine catches up: the customer, their commands, readiness and the metrics")
    func reads() async throws {
        let server = try TestServer()
        try await server.test { client in
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer,
                                     body: buffer(orderLine(id: "r1", customer: "alice", order: "o1", at: "2025-12-30T10:00:00Z"))) {
                #expect($0.status == .ok)
            }
            try await waitUntilReady(client)
            try await client.execute(uri: "/v1/customers/alice", method: .get, headers: bearer) { r in
                #expect(r.status == .ok)
                #expect(r.object["customer"]?.stringValue == "alice")
                #expect(r.object["order_count"]?.intValue == 1)
            }
            try await client.execute(uri: "/v1/customers/nobody", method: .get, headers: bearer) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/actions?customer=alice&status=all", method: .get, headers: bearer) { r in
                #expect(r.status == .ok)
                let commands = r.text.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
                #expect(!commands.isEmpty)
                #expect(commands.allSatisfy { $0["customer"]?.stringValue == "alice" })
                #expect(commands.contains { $0["kind"]?.stringValue == "order_confirmation" })
            }
            try await client.execute(uri: "/v1/actions?status=later", method: .get, headers: bearer) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/metrics", method: .get) { r in
                #expect(r.status == .ok)
                #expect(r.text.contains(#"aftersale_events_total{source="api",outcome="appended"} 1"#))
                #expect(r.text.contains(#"aftersale_http_request_duration_seconds_count{route="/v1/events",method="POST",status="200"} 1"#))
                #expect(r.text.contains("aftersale_reactor_lag_events 0"))
                // The process's memory as of the scrape: SQLite's (the connections' caches) and the heap's.
                func gauge(_ name: String) -> Double? {
                    r.text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
                }
                #expect((gauge("aftersale_sqlite_memory_bytes") ?? 0) > 0)
                #expect((gauge("aftersale_heap_in_use_bytes") ?? 0) > 0)
                #expect(gauge("aftersale_heap_free_bytes") != nil)
                // The one request, committed once.
                #expect(gauge("aftersale_intake_commits_total") == 1 && gauge("aftersale_intake_committed_requests_total") == 1)
                #expect((gauge("process_resident_memory_bytes") ?? 0) > (gauge("aftersale_sqlite_memory_bytes") ?? .infinity))
            }
        }
    }

    @Test("over a real connection on loopback")
    func live() async throws {
        let server = try TestServer()
        try await server.test(.live) { client in
            try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(orderLine(id: "l1", customer: "bob", order: "o1"))) { r in
                #expect(r.status == .ok)
                #expect(r.object.outcomes == ["appended"])
            }
            try await waitUntilReady(client)
            try await client.execute(uri: "/v1/customers/bob", method: .get, headers: bearer) { #expect($0.object["order_count"]?.intValue == 1) }
        }
    }
}

@Suite("the intake: group commit and conditions")
struct IntakeTests {
    @Test("concurrent requests are all committed, each with its own outcome")
    func concurrent() async throws {
        let server = try TestServer()
        try await server.test { client in
            try await withThrowingTaskGroup(of: [String].self) { group in
                for i in 0..<64 {
                    group.addTask {
                        try await client.execute(uri: "/v1/events", method: .post, headers: bearer,
                                                 body: buffer(orderLine(id: "g\(i)", customer: "c\(i % 7)", order: "o\(i)"))) { $0.object.outcomes }
                    }
                }
                var all: [String] = []
                for try await outcomes in group { all += outcomes }
                #expect(all == Array(repeating: "appended", count: 64))
            }
            let log = try EventLog(path: server.path)
            #expect(try log.head() == 64)
        }
    }
}
