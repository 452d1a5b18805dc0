import AftersaleServer
import Foundation
import Testing

@Suite("the service's settings")
struct SettingsTests {
    @Test("the config's serve and webhooks sections beside the reactor's own; the environment wins for secrets; a bad key is named")
    func fromConfigAndEnvironment() throws {
        let config = #"""
        {"delivery": {"late_after_hours": 30},
         "serve": {"port": 9090, "api_token": "from-file", "cache_mib_per_connection": 8, "engine_customers_per_step": 500,
                   "engine_niceness": 5, "intake_facts_held": 0, "engine_defer_ms": 300, "engine_quiet_ms": 50,
                   "engine_defer_behind_ms": 2500, "engine_spare_cores": 1.25, "engine_intake_group": 3,
                   "engine_customers_per_quiet_step": 0, "intake_commit_delay_ms": 1.5},
         "webhooks": {"destinations": [{"name": "mailer", "url": "https://mail.example/hooks"}]}}
        """#
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let settings = try ServerSettings.load(databasePath: "x.db", configText: config,
                                               environment: ["AFTERSALE_API_TOKEN": "from-env", "AFTERSALE_WEBHOOK_SECRET": secret])
        #expect(settings.port == 9090 && settings.apiToken == "from-env")
        #expect(settings.cacheMebibytesPerConnection == 8 && settings.engineCustomersPerStep == 500 && settings.engineNiceness == 5)
        #expect(ServerSettings(databasePath: "x.db").engineNiceness == 10)
        #expect(settings.engineDeferMilliseconds == 300 && ServerSettings(databasePath: "x.db").engineDeferMilliseconds == 1_000)
        #expect(settings.engineDeferBehindMilliseconds == 2_500 && ServerSettings(databasePath: "x.db").engineDeferBehindMilliseconds == 5_000)
        #expect(settings.engineQuietMilliseconds == 50 && ServerSettings(databasePath: "x.db").engineQuietMilliseconds == 200)
        #expect(settings.intakeFactsHeld == 0 && ServerSettings(databasePath: "x.db").intakeFactsHeld == 50_000)
        #expect(settings.engineSpareCores == 1.25 && ServerSettings(databasePath: "x.db").engineSpareCores == 0.5)
        #expect(settings.engineIntakeGroup == 3 && ServerSettings(databasePath: "x.db").engineIntakeGroup == 8)
        #expect(throws: SettingsError.self) {
            try ServerSettings.load(databasePath: "x.db", configText: #"{"serve": {"engine_intake_group": 0.5}}"#, environment: [:])
        }
        #expect(settings.engineCustomersPerQuietStep == 0 && ServerSettings(databasePath: "x.db").engineCustomersPerQuietStep == 5_000)
        #expect(settings.intakeCommitDelayMilliseconds == 1.5 && ServerSettings(databasePath: "x.db").intakeCommitDelayMilliseconds == 2)
        #expect(throws: SettingsError.self) {
            try ServerSettings.load(databasePath: "x.db", configText: #"{"serve": {"intake_commit_delay_ms": -1}}"#, environment: [:])
        }
        #expect(throws: SettingsError.self) {
            try ServerSettings.load(databasePath: "x.db", configText: #"{"serve": {"engine_niceness": -5}}"#, environment: [:])
        }
        #expect(settings.reactor.delivery.lateAfterHours == 30)
        #expect(settings.delivery.destinations.map(\.name) == ["mailer"] && settings.delivery.secrets.count == 1)
        #expect(throws: SettingsError.self) {
            try ServerSettings.load(databasePath: "x.db", configText: #"{"serve": {"cache_mib": 8}}"#, environment: [:])
        }
        do {
            _ = try ServerSettings.load(databasePath: "x.db", configText: #"{"webhooks": {"destinations": [{"url": "mail.example"}]}}"#, environment: [:])
            Issue.record("a destination without a scheme was accepted")
        } catch {
            #expect("\(error)".contains("webhooks.destinations[0].url"), "\(error)")
        }
    }

    #if os(Linux)
    @Test("the live engine's thread runs at the configured nice value")
    func engineRunsNiced() async throws {
        /// The nice values of this process's threads (field 19 of each task's stat).
        func niceValues() -> [Int] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.compactMap { task in
                guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { return nil }
                // After the command name: state is field 3, nice field 19.
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                return fields.count > 16 ? Int(fields[16]) : nil
            }
        }
        #expect(!niceValues().contains(17))
        let server = try TestServer { $0.engineNiceness = 17 }
        defer {
            server.parts.stop()
            try? FileManager.default.removeItem(at: server.folder)
        }
        var seen = false
        for _ in 0..<100 where !seen {
            seen = niceValues().contains(17)
            if !seen { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(seen, "no thread at nice 17: \(niceValues())")
    }
    #endif

    @Test("destinations without a signing secret leave delivery off: nothing goes out unsigned")
    func noSecretNoDelivery() throws {
        let server = try TestServer { settings in
            settings.delivery = try! ServerSettings.load(databasePath: settings.databasePath,
                                                         configText: #"{"webhooks": {"destinations": [{"url": "http://127.0.0.1:9/x"}]}}"#,
                                                         environment: [:]).delivery
        }
        defer { server.parts.stop() }
        #expect(server.parts.delivery == nil)
        let signed = try TestServer { settings in
            settings.delivery = try! ServerSettings.load(databasePath: settings.databasePath,
                                                         configText: #"{"webhooks": {"destinations": [{"url": "http://127.0.0.1:9/x"}]}}"#,
                                                         environment: ["AFTERSALE_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).delivery
        }
        defer { signed.parts.stop() }
        #expect(signed.parts.delivery != nil)
    }
}
