import AftersaleServer
import Testing

@Suite("the service's settings")
struct SettingsTests {
    @Test("the config's serve and webhooks sections beside the reactor's own; the environment wins for secrets; a bad key is named")
    func fromConfigAndEnvironment() throws {
        let config = #"""
        {"delivery": {"late_after_hours": 30},
         "serve": {"port": 9090, "api_token": "from-file", "cache_mib_per_connection": 8, "engine_customers_per_step": 500},
         "webhooks": {"destinations": [{"name": "mailer", "url": "https://mail.example/hooks"}]}}
        """#
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let settings = try ServerSettings.load(databasePath: "x.db", configText: config,
                                               environment: ["AFTERSALE_API_TOKEN": "from-env", "AFTERSALE_WEBHOOK_SECRET": secret])
        #expect(settings.port == 9090 && settings.apiToken == "from-env")
        #expect(settings.cacheMebibytesPerConnection == 8 && settings.engineCustomersPerStep == 500)
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
