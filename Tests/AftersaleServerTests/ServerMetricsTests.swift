import Testing

@testable import AftersaleServer

@Suite("the service's metrics")
struct ServerMetricsTests {
    /// The value of one series in the Prometheus text.
    static func value(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    @Test("each series counts its own requests and events, however often it is recorded")
    func seriesKeptApart() {
        let metrics = ServerMetrics()
        for _ in 0..<3 { metrics.recordRequest(route: "/v1/events", method: "POST", status: 200, nanoseconds: 1_000_000) }
        metrics.recordRequest(route: "/v1/events", method: "POST", status: 422, nanoseconds: 1_000_000)
        for _ in 0..<2 { metrics.recordRequest(route: "/webhooks/shopify", method: "POST", status: 200, nanoseconds: 3_000_000) }
        metrics.recordRequest(route: "/v1/events", method: "GET", status: 200, nanoseconds: 1_000_000)
        metrics.countEvent(source: "api", outcome: "appended", by: 500)
        metrics.countEvent(source: "api", outcome: "appended")
        metrics.countEvent(source: "api", outcome: "duplicate", by: 2)
        metrics.countEvent(source: "shopify", outcome: "appended", by: 7)
        let text = String(decoding: metrics.text(), as: UTF8.self)
        let requests = "aftersale_http_request_duration_seconds_count"
        #expect(Self.value(text, requests + #"{route="/v1/events",method="POST",status="200"}"#) == 3)
        #expect(Self.value(text, requests + #"{route="/v1/events",method="POST",status="422"}"#) == 1)
        #expect(Self.value(text, requests + #"{route="/webhooks/shopify",method="POST",status="200"}"#) == 2)
        #expect(Self.value(text, requests + #"{route="/v1/events",method="GET",status="200"}"#) == 1)
        #expect(Self.value(text, #"aftersale_events_total{source="api",outcome="appended"}"#) == 501)
        #expect(Self.value(text, #"aftersale_events_total{source="api",outcome="duplicate"}"#) == 2)
        #expect(Self.value(text, #"aftersale_events_total{source="shopify",outcome="appended"}"#) == 7)
    }

    @Test("the intake's commits and the requests they answered count up from its running totals at each scrape; the engine's waits are counted")
    func intakeCommitsAndEngineWaits() {
        let metrics = ServerMetrics()
        final class Totals: @unchecked Sendable { var commits: UInt64 = 0; var requests: UInt64 = 0 }
        let totals = Totals()
        metrics.observeIntake { (totals.commits, totals.requests) }
        totals.commits = 4
        totals.requests = 10
        var text = String(decoding: metrics.text(), as: UTF8.self)
        #expect(Self.value(text, "aftersale_intake_commits_total") == 4)
        #expect(Self.value(text, "aftersale_intake_committed_requests_total") == 10)
        // A scrape with nothing new adds nothing; the next counts only what came since.
        text = String(decoding: metrics.text(), as: UTF8.self)
        #expect(Self.value(text, "aftersale_intake_commits_total") == 4)
        totals.commits = 6
        totals.requests = 27
        metrics.countEngineWait()
        metrics.countEngineWait()
        text = String(decoding: metrics.text(), as: UTF8.self)
        #expect(Self.value(text, "aftersale_intake_commits_total") == 6)
        #expect(Self.value(text, "aftersale_intake_committed_requests_total") == 27)
        #expect(Self.value(text, "aftersale_engine_waits_total") == 2)
    }

    @Test("past its limit, a series is made each time and still counted")
    func pastTheLimit() {
        let handlers = SeriesHandlers<Int, Counter>(limit: 2)
        var made = 0
        for round in 0..<3 {
            for key in 0..<4 {
                _ = handlers.handler(for: key) {
                    made += 1
                    return Counter()
                }
            }
            // The first two keys are made once and kept; the others each time they come.
            #expect(made == 4 + 2 * round)
        }
    }

    final class Counter: Sendable {}
}
