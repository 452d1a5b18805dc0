import Foundation
import Testing

/// CDNOW's 1/10 sample as an analyst's transactions CSV: customer_id,date,amount.
func cdnowTransactions(_ cli: CLI) throws -> String {
    let raw = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/BuyTillYouDieTests/Fixtures/cdnow_sample.txt"), encoding: .utf8)
    var csv = "customer_id,date,amount\n"
    for line in raw.split(whereSeparator: \.isNewline) {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        csv += "\(f[1]),\(f[2]),\(f[4])\n"
    }
    return cli.write("cdnow.csv", csv)
}

func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
}

func rounded(_ value: Any?, _ digits: Int) -> Double? {
    guard let x = value as? Double else { return nil }
    let scale = pow(10, Double(digits))
    return (x * scale).rounded() / scale
}

@Suite("fit, customer and rebuild, end to end", .serialized)
struct ProjectionCommandTests {
    @Test("CDNOW through ingest and fit reproduces the published BG/NBD, Pareto/NBD and Gamma-Gamma estimates")
    func cdnowPublishedEstimates() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let ingest = try cli.run(["ingest", "--format", "transactions", "--currency", "USD", try cdnowTransactions(cli)])
        #expect(ingest.stdout == "appended 6919, duplicates 0, rejected 0\n", "\(ingest.stderr)")

        let bg = try json(try cli.run(["fit", "--as-of", "1997-09-30", "--unit", "week", "--json"]).stdout)
        let params = try #require(bg["params"] as? [String: Double])
        #expect(bg["model"] as? String == "bgnbd" && bg["customers"] as? Int == 2357 && bg["repeat_buyers"] as? Int == 946)
        #expect(rounded(params["r"], 3) == 0.243 && rounded(params["alpha"], 3) == 4.414)
        #expect(rounded(params["a"], 3) == 0.793 && rounded(params["b"], 3) == 2.426)
        #expect(rounded(bg["log_likelihood"], 1) == -9582.4)
        let spend = try #require(bg["spend"] as? [String: Double])
        #expect(rounded(spend["p"], 2) == 6.25 && rounded(spend["q"], 2) == 3.74 && rounded(spend["gamma"], 2) == 15.44)

        let pareto = try json(try cli.run(["fit", "--model", "paretonbd", "--as-of", "1997-09-30", "--unit", "week", "--json"]).stdout)
        let pp = try #require(pareto["params"] as? [String: Double])
        #expect(rounded(pp["r"], 3) == 0.553 && rounded(pp["alpha"], 3) == 10.578)
        #expect(rounded(pp["s"], 3) == 0.606 && rounded(pp["beta"], 3) == 11.669)
        #expect(rounded(pareto["log_likelihood"], 1) == -9595.0)

        // Each fit is a model.fitted event in the log; fitting the same data again records nothing new.
        let again = try cli.run(["fit", "--as-of", "1997-09-30", "--unit", "week"])
        #expect(again.stdout.contains("the same fit is already recorded"))
        let byType = try #require(try json(try cli.run(["log", "--json"]).stdout)["by_type"] as? [String: Int])
        #expect(byType == ["order.placed": 6919, "model.fitted": 2])
    }

    @Test("a simulated shop's known BG/NBD and Gamma-Gamma parameters are recovered within sampling error")
    func simulatedShopRecovery() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let simulate = try cli.run(["simulate", "--customers", "20000", "--purchases-only", "--seed", "5", "--out", cli.path("shop.ndjson")])
        #expect(simulate.status == 0, "\(simulate.stderr)")
        #expect(try cli.run(["ingest", "--quiet", cli.path("shop.ndjson")]).status == 0)
        let fit = try json(try cli.run(["fit", "--unit", "day", "--json"]).stdout)
        let p = try #require(fit["params"] as? [String: Double])
        // Truth (per day): r 0.243, alpha 30.898, a 0.793, b 2.426; spend p 6.25, q 3.74, gamma 15.44.
        // 20,000 customers: relative sampling error of a few percent (same-day purchases merge, biasing alpha up slightly).
        #expect(abs(p["r"]! / 0.243 - 1) < 0.10)
        #expect(abs(p["alpha"]! / 30.898 - 1) < 0.10)
        #expect(abs(p["a"]! / 0.793 - 1) < 0.15)
        #expect(abs(p["b"]! / 2.426 - 1) < 0.15)
        let spend = try #require(fit["spend"] as? [String: Double])
        #expect(abs(spend["p"]! / 6.25 - 1) < 0.05 && abs(spend["q"]! / 3.74 - 1) < 0.05 && abs(spend["gamma"]! / 15.44 - 1) < 0.05)
    }

    @Test("too little data: fit says it cannot predict yet and why, and appends nothing")
    func notEnoughData() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["ingest"] + shippedExamples())
        let fit = try cli.run(["fit"])
        #expect(fit.status != 0)
        #expect(fit.stderr.contains("cannot predict yet:") && fit.stderr.contains("repeat buyers"))
        #expect(!fit.stderr.contains("Usage:"))
        let log = try cli.run(["log"]).stdout
        #expect(log.contains("model.fitted         2"), "only the two shipped model.fitted examples: \(log)")
    }

    @Test("customer shows state, lifetime value and predictions; rebuild reports its rate and changes nothing")
    func customerAndRebuild() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["ingest", "--format", "transactions", "--currency", "USD", try cdnowTransactions(cli)])
        try cli.run(["fit", "--as-of", "1997-09-30"])
        let shown = try cli.run(["customer", "0002", "--now", "1997-10-01T00:00:00Z", "--json"])
        let c = try json(shown.stdout)
        #expect(c["customer"] as? String == "0002")
        #expect(c["order_count"] as? Int ?? 0 >= 1)
        let prediction = try #require(c["prediction"] as? [String: Any])
        let pAlive = try #require(prediction["p_alive"] as? Double)
        #expect(pAlive > 0 && pAlive <= 1)
        #expect(prediction["predicted_clv_12m"] is String && prediction["total_clv"] is String)
        #expect((c["recent_events"] as? [Any])?.isEmpty == false)

        let text = try cli.run(["customer", "0002", "--now", "1997-10-01T00:00:00Z"]).stdout
        let rebuild = try cli.run(["rebuild"])
        #expect(rebuild.stdout.hasPrefix("rebuilt customers: 6920 events, 2357 customers in "), "\(rebuild.stdout)\(rebuild.stderr)")
        #expect(rebuild.stdout.contains("events/s"))
        #expect(try cli.run(["customer", "0002", "--now", "1997-10-01T00:00:00Z"]).stdout == text)
        #expect(try cli.run(["customer", "nobody"]).stderr.contains("no events for customer 'nobody'"))
        #expect(try cli.run(["rebuild", "--projection", "nope"]).status != 0)
    }
}
