// aftersale-load: `aftersale serve` under load over loopback, beside `aftersale ingest` of the same
// events in the same run.
//
//   swift build -c release --product aftersale && swift build -c release --product aftersale-load
//   .build/release/aftersale-load [--events 100000] [--connections 64] [--batch 500] [--batch-connections 4] [--repeat 3]
//                                 [--only single,batches,shopify]
//
// Each run: a simulated shop's events are written to a file; `aftersale ingest` loads them into a
// fresh database (timed); then a fresh server takes the same events over HTTP, one event per request
// on --connections connections, then again into another fresh server in --batch-event requests,
// then signed Shopify webhooks. It prints acknowledged events per second, request latency (p50,
// p99), the server's RSS, and the live engine's lag at the last answer with the seconds until
// `/readyz` said it had caught up. Requests go through `ClosedLoop` (one at a time per connection).
//
// Also: `--soak-minutes M` (single events only, the server's memory and the engine's lag as it goes;
// with `--rate R`, R events a second at even intervals: whether the live engine keeps up with a
// shop sending that many; the requests that took 50 ms or more go to `slow-requests.tsv` in the
// folder, each with when it was sent in the uptime the server's "engine caught up" lines give as
// `started_uptime_ms`, to set the stalls beside the engine's runs); `--deliveries N`
// (an N-customer shop's due commands as webhooks, `dispatch --to` beside `dispatch --out`;
// `--slow-default no` leaves out the minutes-long run against a 200 ms receiver at concurrency 8);
// `--variants K` (every SKU of the simulated catalogue, 160 of them, sold in K variants, a customer
// keeping to one variant of a product: a catalogue K times as large, its co-purchase pairs up to K²
// times as many, for what a large catalogue costs the live engine);
// `--soak-base FILE` (the soak's server starts on a copy of FILE, a shop with a history);
// `receiver --log FILE [--delay-ms N]` (the webhook receiver the deliveries run starts: signatures
// checked with its own code, the secret from $RECEIVER_SECRET).
import Crypto

import Foundation
import NIOCore
import ShopSimulator

struct Options {
    var events = 100_000
    var connections = 64
    var batch = 500
    /// Connections the batches are sent on.
    var batchConnections = 4
    var repeats = 3
    var config: String?
    /// A soak: only single events, for this many minutes, with the server's memory as it goes.
    var soakMinutes: Double?
    /// Each SKU sold in this many variants (`withVariants`); 1: the catalogue as simulated.
    var variants = 1
    /// The soak's server starts on a copy of this file (its keys file and master key beside it)
    /// instead of an empty one: a shop with a history behind it.
    var soakBase: String?
    /// A paced soak: this many events a second in all, due at even intervals (nil: as fast as the
    /// server answers).
    var rate: Double?
    /// Deliveries instead: a shop of this many customers, its due commands as webhooks.
    var deliveriesCustomers: Int?
    /// With deliveries: also the minutes-long run against the 200 ms receiver at concurrency 8.
    var slowDefault = true
    /// Which of the runs: `single`, `batches`, `shopify` (all by default; ingest always runs).
    var modes: Set<String> = ["single", "batches", "shopify"]
    var binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("aftersale").path
    var folder = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-load").path

    static let usage = """
        usage: aftersale-load [--events N] [--connections N] [--batch N] [--batch-connections N] [--repeat N]
                              [--only single,batches,shopify] [--config FILE] [--aftersale BINARY] [--folder DIR]
                              [--soak-minutes M [--rate EVENTS_PER_SECOND]] [--deliveries CUSTOMERS [--slow-default no]]
                      [--variants K] [--soak-base FILE]
               aftersale-load receiver --log FILE [--delay-ms N]   (the secret from $RECEIVER_SECRET)
        `aftersale serve` under load over loopback, beside `aftersale ingest` of the same events; see the
        header of tools/load/Load.swift for what each run measures.
        """

    /// Exits with a message on standard error: usage errors are the user's to fix, not a crash.
    static func refuse(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n\n" + usage + "\n").utf8))
        exit(2)
    }

    init() {
        var args = CommandLine.arguments.dropFirst()
        while let name = args.popFirst() {
            if name == "--help" || name == "-h" {
                print(Options.usage)
                exit(0)
            }
            guard let value = args.popFirst() else { Options.refuse("\(name) needs a value") }
            func number<T: LosslessStringConvertible>(_ parse: (String) -> T?) -> T {
                guard let n = parse(value) else { Options.refuse("\(name) \(value): not a number") }
                return n
            }
            switch name {
            case "--events": events = number { Int($0) }
            case "--connections": connections = number { Int($0) }
            case "--batch": batch = number { Int($0) }
            case "--batch-connections": batchConnections = number { Int($0) }
            case "--repeat": repeats = number { Int($0) }
            case "--aftersale": binary = value
            case "--folder": folder = value
            case "--config": config = value
            case "--soak-minutes": soakMinutes = number { Double($0) }
            case "--soak-base": soakBase = value
            case "--variants":
                variants = number { Int($0) }
                if variants < 1 { Options.refuse("--variants \(value): variants of each SKU, 1 or more") }
            case "--rate":
                rate = number { Double($0) }
                if !(rate! > 0) { Options.refuse("--rate \(value): events a second, more than 0") }
            case "--deliveries": deliveriesCustomers = number { Int($0) }
            case "--slow-default": slowDefault = value != "no"
            case "--only":
                modes = Set(value.split(separator: ",").map(String.init))
                if let unknown = modes.subtracting(["single", "batches", "shopify"]).first { Options.refuse("--only: unknown run \(unknown)") }
            default: Options.refuse("unknown option \(name)")
            }
        }
        if soakBase != nil && soakMinutes == nil { Options.refuse("--soak-base starts a soak on a copy of a file: give --soak-minutes too") }
        if rate != nil && soakMinutes == nil { Options.refuse("--rate paces a soak: give --soak-minutes too") }
    }
}

func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1)]
}

/// A shop's events, one line each.
func shopLines(_ n: Int) throws -> [String] {
    var c = SimulationConfiguration(seed: 11, customers: max(100, n / 11))
    c.maxEvents = n
    var bytes: [UInt8] = []
    _ = try ShopSimulation(c).writeNDJSON { bytes += $0 }
    // Split as bytes: a String's split walks grapheme clusters, which took minutes for a soak's
    // millions of lines.
    return bytes.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
}

/// The line with each SKU it names (`"sku":"X"`) replaced by one of `variants` variants of it
/// (`X-V3`), chosen by the line's customer and the SKU: a customer's events name one variant of a
/// product throughout, different customers different ones.
func withVariants(_ line: String, _ variants: Int) -> String {
    guard variants > 1 else { return line }
    let bytes = Array(line.utf8)
    let skuKey = Array(#""sku":""#.utf8), customerKey = Array(#""customer":""#.utf8)
    func find(_ key: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= key.count, start <= bytes.count - key.count else { return nil }
        for i in start...(bytes.count - key.count) where bytes[i] == key[0] && bytes[i..<(i + key.count)].elementsEqual(key) { return i + key.count }
        return nil
    }
    func value(at start: Int) -> ArraySlice<UInt8> { bytes[start..<(bytes[start...].firstIndex(of: UInt8(ascii: "\"")) ?? bytes.count)] }
    let customer = find(customerKey, from: 0).map(value(at:)) ?? []
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + 32)
    var copied = 0
    var at = 0
    while let start = find(skuKey, from: at) {
        let sku = value(at: start)
        // FNV-1a over customer and SKU: the same variant whenever this customer names this SKU.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in customer + [0] + sku { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        out += bytes[copied..<sku.endIndex]
        out += Array("-V\(hash % UInt64(variants))".utf8)
        copied = sku.endIndex
        at = sku.endIndex
    }
    out += bytes[copied...]
    return String(decoding: out, as: UTF8.self)
}

func run(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Double {
    try runCapturing(path, arguments, environment: environment).0
}

/// Runs a command to its end (it must succeed): its seconds and its standard error.
func runCapturing(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Double, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    p.standardOutput = FileHandle.nullDevice
    let errors = Pipe()
    p.standardError = errors
    let start = seconds()
    try p.run()
    let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { fatalError("\(path) \(arguments) exited \(p.terminationStatus): \(text)") }
    return (seconds() - start, text)
}

/// Removes a database with everything beside it, its keys file and master key included: a run
/// on a vault kept from the run before found every customer's key made, and never paid for
/// making one (a synced write to the keys file), as a new shop does.
func removeDatabase(_ db: String) {
    let stem = URL(fileURLWithPath: db).deletingPathExtension().path
    for path in [db, db + "-wal", db + "-shm", db + "-rebuild.lock", stem + ".keys", stem + ".keys-journal", stem + ".master-key"] {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A server on a fresh database.
final class Server: @unchecked Sendable {
    let process = Process()
    let port: Int
    static let token = "load-token"
    static let shopifySecret = "load-shopify-secret"

    init(_ options: Options, db: String, base: String? = nil) throws {
        removeDatabase(db)
        if let base {
            // The file, its write-ahead log if one was left, and the vault's files beside it.
            let (from, to) = (URL(fileURLWithPath: base).deletingPathExtension().path, URL(fileURLWithPath: db).deletingPathExtension().path)
            for (source, target) in [(base, db), (base + "-wal", db + "-wal"), (from + ".keys", to + ".keys"),
                                     (from + ".keys-wal", to + ".keys-wal"), (from + ".master-key", to + ".master-key")]
            where FileManager.default.fileExists(atPath: source) {
                try FileManager.default.copyItem(atPath: source, toPath: target)
            }
        }
        let log = db + ".log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: options.binary)
        process.arguments = ["serve", "--db", db, "--port", "0"] + (options.config.map { ["--config", $0] } ?? [])
        var env = ProcessInfo.processInfo.environment
        env["AFTERSALE_API_TOKEN"] = Server.token
        env["AFTERSALE_SHOPIFY_SECRET"] = Server.shopifySecret
        // The server's log beside its database (warning unless AFTERSALE_LOAD_SERVER_LOG_LEVEL says otherwise).
        env["AFTERSALE_LOG_LEVEL"] = env["AFTERSALE_LOAD_SERVER_LOG_LEVEL"] ?? "warning"
        process.environment = env
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var found: Int?
        for _ in 0..<400 where found == nil {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let r = text.range(of: "listening on http://127.0.0.1:") { found = Int(text[r.upperBound...].prefix { $0.isNumber }) } else { usleep(50_000) }
        }
        guard let found else { fatalError("the server did not start") }
        port = found
    }

    /// The server's resident memory now (KiB), from /proc.
    var rssKiB: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    func stop() {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}

struct LoadResult {
    var eventsPerSecond: Double
    var p50: Double
    var p99: Double
    var failures: Int
    /// Requests that took `ConnectionTally.slowSeconds` or more, by when they were sent.
    var slow: [(sentAt: UInt64, seconds: Double)] = []
}

/// Sends `bodies` over `connections` keep-alive connections, each a closed loop (ClosedLoop.swift), on an
/// event loop group of `threads` threads; every body must be acknowledged. Each request carries Host,
/// Content-Type, `constantHeaders` (encoded once), the headers `headers` gives for its index, and
/// Content-Length; its latency runs from just before its write to its whole response.
func load(_ server: Server, bodies: [String], eventsPerBody: [Int], connections: Int, threads: Int = 1,
          path: String = "/v1/events", contentType: String = "application/x-ndjson",
          until deadline: Double = .infinity, progress: ManagedAtomicCounter? = nil, failed: ManagedAtomicCounter? = nil,
          constantHeaders: [(String, String)] = [("Authorization", "Bearer \(Server.token)")],
          headers: (@Sendable (Int) -> [(String, String)])? = nil, requestsPerSecond: Double? = nil) async throws -> LoadResult {
    let next = ManagedAtomicCounter()
    let plan = ClosedLoopPlan(port: server.port, path: path, contentType: contentType, constantHeaders: constantHeaders, headers: headers,
                              bodies: bodies, next: next, deadline: deadline, progress: progress, failed: failed,
                              requestsPerSecond: requestsPerSecond)
    let start = seconds()
    let tallies = try await ClosedLoop.run(port: server.port, plan: plan, connections: connections, threads: threads)
    let elapsed = seconds() - start
    let latencies = tallies.flatMap(\.latencies)
    let failures = tallies.reduce(0) { $0 + $1.failures }
    let sent = min(next.current, bodies.count)
    return LoadResult(eventsPerSecond: Double(eventsPerBody.prefix(sent).reduce(0, +)) / elapsed, p50: percentile(latencies, 0.5),
                      p99: percentile(latencies, 0.99), failures: failures,
                      slow: tallies.flatMap(\.slow).sorted { $0.sentAt < $1.sentAt })
}

/// `GET path` over a fresh connection (HTTP/1.0, so the server closes it): the status and body.
func plainGet(port: Int, path: String) -> (Int, String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0, "socket: \(errno)")
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    precondition(connected == 0, "connect to port \(port): \(errno)")
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    precondition(write(fd, request, request.count) == request.count, "write: \(errno)")
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    // Up to the end of the body its Content-Length gives (or the server's close).
    while true {
        let text = String(decoding: response, as: UTF8.self)
        if let end = text.range(of: "\r\n\r\n") {
            let head = text[..<end.lowerBound].lowercased()
            if let field = head.range(of: "content-length:"),
               let length = Int(head[field.upperBound...].prefix { $0 != "\r" }.trimmingCharacters(in: .whitespaces)),
               text.utf8.count - text.utf8.distance(from: text.startIndex, to: end.upperBound) >= length {
                break
            }
        }
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    let status = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}

/// After a load: the reactor's lag (events) at once, and the seconds until `/readyz` says the
/// projection and the reactor have caught up with every event acknowledged.
func catchUp(_ server: Server) -> (lag: Int, seconds: Double) {
    let (_, first) = plainGet(port: server.port, path: "/readyz")
    let lag = (try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])?["reactor_lag"] as? Int ?? -1
    guard let seconds = secondsUntilReady(server, within: 600) else { preconditionFailure("the engine did not catch up within 10 minutes") }
    return (lag, seconds)
}

/// The seconds until `/readyz` answers 200, nil if it has not within `limit` seconds.
func secondsUntilReady(_ server: Server, within limit: Double) -> Double? {
    let start = seconds()
    while plainGet(port: server.port, path: "/readyz").0 != 200 {
        if seconds() - start >= limit { return nil }
        usleep(20_000)
    }
    return seconds() - start
}

/// Hands out indexes to concurrent senders.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { defer { value += 1 }; return value } }
    var current: Int { lock.withLock { value } }
}

@main
struct Load {
    static func main() async throws {
        if CommandLine.arguments.dropFirst().first == "receiver" {
            try await Receiver.main(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        let options = Options()
        try FileManager.default.createDirectory(atPath: options.folder, withIntermediateDirectories: true)
        let lines = try shopLines(options.events).map { withVariants($0, options.variants) }
        let file = options.folder + "/shop.ndjson"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        if let customers = options.deliveriesCustomers {
            try deliveries(options, customers: customers)
            return
        }
        if let minutes = options.soakMinutes {
            try await soak(options, lines: lines, minutes: minutes)
            return
        }
        print("aftersale-load: \(lines.count) events, \(options.connections) connections for single events, batches of \(options.batch); \(options.repeats) runs")
        var ingestRates: [Double] = [], singles: [LoadResult] = [], batches: [LoadResult] = [], webhooks: [LoadResult] = []
        var rss: [(Int, Int)] = []
        // Seconds from the last acknowledgement until /readyz: the live engine caught up.
        var singleCatchUps: [Double] = [], batchCatchUps: [Double] = []
        for run in 1...options.repeats {
            let ingestDB = options.folder + "/ingest.db"
            removeDatabase(ingestDB)
            let t = try Load.runIngest(options, db: ingestDB, file: file)
            ingestRates.append(Double(lines.count) / t)

            var line = String(format: "run %d: ingest %.0f ev/s", run, ingestRates.last!)
            if options.modes.contains("single") {
                let single = try Server(options, db: options.folder + "/single.db")
                let before = single.rssKiB
                // The server's memory while it takes single events, every 30 s.
                let sampler = Task {
                    var samples: [Int] = []
                    while !Task.isCancelled {
                        samples.append(single.rssKiB)
                        try? await Task.sleep(for: .seconds(30))
                    }
                    return samples
                }
                let s = try await load(single, bodies: lines, eventsPerBody: Array(repeating: 1, count: lines.count),
                                       connections: options.connections)
                let engine = catchUp(single)
                sampler.cancel()
                let samples = await sampler.value
                print("run \(run): server RSS (KiB) every 30 s while taking single events: \(samples.map(String.init).joined(separator: " ")), at the end \(single.rssKiB)")
                rss.append((before, single.rssKiB))
                single.stop()
                singles.append(s)
                line += String(format: "; single %.0f ev/s (p50 %.1f ms, p99 %.1f ms, %d failed; reactor lag %d events, caught up %.1f s later)",
                               s.eventsPerSecond, s.p50 * 1000, s.p99 * 1000, s.failures, engine.lag, engine.seconds)
                singleCatchUps.append(engine.seconds)
            }
            if options.modes.contains("batches") {
                let batched = try Server(options, db: options.folder + "/batch.db")
                let bodies = stride(from: 0, to: lines.count, by: options.batch).map { lines[$0..<min($0 + options.batch, lines.count)].joined(separator: "\n") }
                let counts = stride(from: 0, to: lines.count, by: options.batch).map { min(options.batch, lines.count - $0) }
                let b = try await load(batched, bodies: bodies, eventsPerBody: counts, connections: options.batchConnections)
                let engine = catchUp(batched)
                batched.stop()
                batches.append(b)
                batchCatchUps.append(engine.seconds)
                line += String(format: "; batches %.0f ev/s (p99 %.1f ms, %d failed; reactor lag %d events, caught up %.1f s later)",
                               b.eventsPerSecond, b.p99 * 1000, b.failures, engine.lag, engine.seconds)
            }
            if options.modes.contains("shopify") {
                // Signed Shopify orders/create webhooks, one order each, on the same connections.
                let shop = try Server(options, db: options.folder + "/shopify.db")
                let orders = (0..<min(lines.count, 20_000)).map { i in
                    #"{"id":\#(9_000_000 + i),"created_at":"2025-06-01T10:00:00Z","currency":"EUR","total_price":"19.90","customer":{"id":\#(i % 5000),"email":"c\#(i % 5000)@example.com"},"line_items":[{"sku":"TEA-\#(i % 40)","title":"Tea","quantity":1,"price":"19.90"}]}"#
                }
                let signatures = orders.map { Data(HMAC<SHA256>.authenticationCode(for: Array($0.utf8), using: SymmetricKey(data: Array(Server.shopifySecret.utf8)))).base64EncodedString() }
                let w = try await load(shop, bodies: orders, eventsPerBody: Array(repeating: 1, count: orders.count), connections: options.connections,
                                       path: "/webhooks/shopify", contentType: "application/json",
                                       constantHeaders: [("X-Shopify-Topic", "orders/create")]) { i in
                    [("X-Shopify-Event-Id", "load-\(i)"), ("X-Shopify-Hmac-Sha256", signatures[i])]
                }
                shop.stop()
                webhooks.append(w)
                line += String(format: "; shopify %.0f webhooks/s (p99 %.1f ms, %d failed)", w.eventsPerSecond, w.p99 * 1000, w.failures)
            }
            print(line)
        }
        print("")
        print("| what (median of \(options.repeats)) | events/s | p50 | p99 | server RSS | engine caught up after the last answer |")
        print("|---|---|---|---|---|---|")
        print(String(format: "| `aftersale ingest` of the same file | %.0f | | | | |", median(ingestRates)))
        if !singles.isEmpty {
            print(String(format: "| POST /v1/events, 1 event per request, %d connections | %.0f | %.1f ms | %.1f ms | %d -> %d KiB | %.1f s |", options.connections,
                     median(singles.map(\.eventsPerSecond)), median(singles.map(\.p50)) * 1000, median(singles.map(\.p99)) * 1000,
                     rss.last?.0 ?? 0, rss.last?.1 ?? 0, median(singleCatchUps)))
        }
        if !batches.isEmpty {
            print(String(format: "| POST /v1/events, %d events per request, %d connections | %.0f | %.1f ms | %.1f ms | | %.1f s |", options.batch, options.batchConnections,
                     median(batches.map(\.eventsPerSecond)), median(batches.map(\.p50)) * 1000, median(batches.map(\.p99)) * 1000,
                     median(batchCatchUps)))
        }
        if !webhooks.isEmpty {
            print(String(format: "| POST /webhooks/shopify, signed orders/create, %d connections | %.0f | %.1f ms | %.1f ms | | |", options.connections,
                     median(webhooks.map(\.eventsPerSecond)), median(webhooks.map(\.p50)) * 1000, median(webhooks.map(\.p99)) * 1000))
        }
        if webhooks.contains(where: { $0.failures > 0 }) || singles.contains(where: { $0.failures > 0 }) || batches.contains(where: { $0.failures > 0 }) {
            print("some requests were not acknowledged with 200: see the runs above")
        }
    }

    /// Single events on `options.connections` connections for `minutes`, printing every 30 s the
    /// server's RSS (lowest and highest of that window's one-second readings), the events
    /// acknowledged, the requests refused and the WAL's size.
    static func soak(_ options: Options, lines: [String], minutes: Double) async throws {
        let paced = options.rate.map { String(format: " at %.0f events/s", $0) } ?? ""
        print("aftersale-load soak: up to \(lines.count) single events on \(options.connections) connections for \(minutes) minutes\(paced)")
        let db = options.folder + "/soak.db"
        let server = try Server(options, db: db, base: options.soakBase)
        let acked = ManagedAtomicCounter(), refused = ManagedAtomicCounter()
        let start = seconds()
        // Where the memory is, from the server's /metrics: SQLite's (page caches), the heap in use,
        // the allocator's free space; and the live engine's lags. The resident size is read every
        // second and each row gives the window's lowest and highest: the server trims the allocator
        // every few seconds and the intake frees memory in bursts between, so one reading every 30 s
        // catches a random point of that swing. The lowest (just after a trim) is what stays; the
        // highest is what the swing costs. "Decided" is the events the reactor moved past in the
        // window, a second: under a load it keeps up with, the intake's rate, its lag flat.
        print("| minute | server RSS low (MiB) | server RSS high (MiB) | SQLite (MiB) | heap in use (MiB) | heap free (MiB) | events acknowledged | requests refused | WAL (MiB) | projection lag | reactor lag | decided (events/s) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        let window = 30
        struct Row { var minute: Double, low: Int, high: Int, reactorLag: Int }
        let sampler = Task { () -> [Row] in
            var rows: [Row] = []
            var decidedBefore = 0, at = seconds()
            while !Task.isCancelled {
                var low = Int.max, high = 0
                for _ in 0..<window where !Task.isCancelled {
                    let rss = server.rssKiB
                    if rss > 0 { low = min(low, rss); high = max(high, rss) }
                    try? await Task.sleep(for: .seconds(1))
                }
                guard high > 0 else { continue }
                let wal = ((try? FileManager.default.attributesOfItem(atPath: db + "-wal"))?[.size] as? Int) ?? 0
                let metrics = plainGet(port: server.port, path: "/metrics").1.split(separator: "\n")
                func value(_ name: String) -> Double {
                    metrics.first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) } ?? -1
                }
                let mib = { (name: String) in Int(value(name) / 1_048_576) }
                let now = seconds(), minute = (now - start) / 60
                // Head and lags from one reading, so their difference is the reactor's position.
                let ready = (try? JSONSerialization.jsonObject(with: Data(plainGet(port: server.port, path: "/readyz").1.utf8)) as? [String: Any]) ?? [:]
                let head = ready["log_head"] as? Int ?? -1, reactorLag = ready["reactor_lag"] as? Int ?? -1
                let projectionLag = ready["projection_lag"] as? Int ?? -1
                let decided = head >= 0 && reactorLag >= 0 ? head - reactorLag : -1
                let rate = decided >= 0 ? Double(decided - decidedBefore) / (now - at) : -1
                (decidedBefore, at) = (max(decided, 0), now)
                rows.append(Row(minute: minute, low: low / 1024, high: high / 1024, reactorLag: reactorLag))
                print(String(format: "| %.1f | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.0f |", minute, low / 1024, high / 1024,
                             mib("aftersale_sqlite_memory_bytes"), mib("aftersale_heap_in_use_bytes"), mib("aftersale_heap_free_bytes"),
                             acked.current, refused.current, wal >> 20, projectionLag, reactorLag, rate))
                fflush(nil)
            }
            return rows
        }
        let result = try await load(server, bodies: lines, eventsPerBody: Array(repeating: 1, count: lines.count), connections: options.connections,
                                    until: start + minutes * 60, progress: acked, failed: refused, requestsPerSecond: options.rate)
        sampler.cancel()
        let rows = await sampler.value
        // Flat or not: the resident size's lows and highs, and the reactor's lag, in the first half
        // (after the first minute, which is the caches filling) against the second half.
        let half = minutes / 2
        let first = rows.filter { $0.minute >= 1 && $0.minute <= half }, second = rows.filter { $0.minute > half }
        if !first.isEmpty && !second.isEmpty {
            func mean(_ xs: [Int]) -> Int { xs.reduce(0, +) / xs.count }
            print(String(format: "server RSS (MiB), minutes 1-%.0f against %.0f-%.0f: lows' mean %d against %d (lowest %d against %d), highs' mean %d against %d (highest %d against %d)",
                         half, half, minutes, mean(first.map(\.low)), mean(second.map(\.low)), first.map(\.low).min()!, second.map(\.low).min()!,
                         mean(first.map(\.high)), mean(second.map(\.high)), first.map(\.high).max()!, second.map(\.high).max()!))
            print(String(format: "reactor lag (events), minutes 1-%.0f against %.0f-%.0f: mean %d against %d, highest %d against %d",
                         half, half, minutes, mean(first.map(\.reactorLag)), mean(second.map(\.reactorLag)),
                         first.map(\.reactorLag).max()!, second.map(\.reactorLag).max()!))
        }
        print(String(format: "soak: %.0f events/s acknowledged, p50 %.1f ms, p99 %.1f ms, %d refused; server RSS at the end %d MiB",
                     result.eventsPerSecond, result.p50 * 1000, result.p99 * 1000, result.failures, server.rssKiB / 1024))
        // The slow requests by when they were sent (the uptime the server's "engine caught up" lines
        // give as `started_uptime_ms`), to find what held them back.
        let slowFile = options.folder + "/slow-requests.tsv"
        let slowText = "sent_uptime_ms\tlatency_ms\n" + result.slow.map { String(format: "%llu\t%.1f\n", $0.sentAt / 1_000_000, $0.seconds * 1000) }.joined()
        try slowText.write(toFile: slowFile, atomically: true, encoding: .utf8)
        print(String(format: "%d requests took %.0f ms or more: %@", result.slow.count, ConnectionTally.slowSeconds * 1000, slowFile))
        // How far the live engine is behind when the load stops, and whether it catches up within
        // a minute (a soak the engine does not keep up with leaves a backlog of millions).
        print("readyz at the end: " + plainGet(port: server.port, path: "/readyz").1.trimmingCharacters(in: .whitespacesAndNewlines))
        if let waited = secondsUntilReady(server, within: 60) {
            print(String(format: "caught up %.1f s after the load", waited))
        } else {
            print("not caught up a minute after the load: " + plainGet(port: server.port, path: "/readyz").1.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let stopping = seconds()
        server.stop()
        print(String(format: "SIGTERM to exit: %.2f s", seconds() - stopping))
    }

    /// `aftersale dispatch --to` against a receiver on loopback (this program's `receiver`, answering
    /// at once, then after 200 ms; and tools/receiver/receiver.py, the tests' receiver, at once),
    /// beside `dispatch --out` of the same commands, each on a fresh copy of one database whose
    /// reactor has already run.
    static func deliveries(_ options: Options, customers: Int) throws {
        let folder = options.folder + "/deliveries"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let base = folder + "/base", shop = folder + "/shop.ndjson"
        let now = "2024-01-11T00:00:00Z"
        _ = try run(options.binary, ["simulate", "--customers", String(customers), "--days", "10", "--start", "2024-01-01", "--seed", "3", "--out", shop])
        _ = try run(options.binary, ["ingest", "--quiet", "--db", base + ".db", shop])
        _ = try run(options.binary, ["actions", "--db", base + ".db", "--now", now])
        let secret = "whsec_" + Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString()
        /// A copy of the database with its keys file and master key (the queued bodies are sealed).
        func fresh(_ name: String) throws -> String {
            let stem = folder + "/" + name
            for suffix in [".db", ".db-wal", ".db-shm", ".keys", ".master-key"] {
                try? FileManager.default.removeItem(atPath: stem + suffix)
                if FileManager.default.fileExists(atPath: base + suffix) { try FileManager.default.copyItem(atPath: base + suffix, toPath: stem + suffix) }
            }
            return stem + ".db"
        }
        struct Sent {
            var seconds: Double
            var sendingSeconds: Double
            var received: Int
        }
        /// `dispatch --to` against a receiver answering after `delay` ms: the whole command's
        /// seconds, its sending's (from its summary line), and the requests the receiver logged.
        func webhooks(delay: Int, concurrency: Int, python: Bool = false, run number: Int) throws -> Sent {
            let db = try fresh("hooks")
            let log = folder + "/received-\(delay)-\(number).ndjson"
            try? FileManager.default.removeItem(atPath: log)
            let receiver = Process()
            if python {
                receiver.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("receiver/receiver.py").path
                receiver.arguments = ["python3", script, "--port", "0", "--secret-env", "RECEIVER_SECRET", "--log", log, "--mode", "accept", "--delay-ms", String(delay)]
            } else {
                receiver.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
                receiver.arguments = ["receiver", "--log", log, "--delay-ms", String(delay)]
            }
            receiver.environment = ProcessInfo.processInfo.environment.merging(["RECEIVER_SECRET": secret]) { $1 }
            let out = Pipe()
            receiver.standardOutput = out
            receiver.standardError = FileHandle.nullDevice
            try receiver.run()
            defer {
                kill(receiver.processIdentifier, SIGKILL)
                receiver.waitUntilExit()
            }
            let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
            guard let port = line.split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else { fatalError("receiver: \(line)") }
            let config = folder + "/delivery.json"
            try #"{"webhooks": {"destinations": [{"name": "bench", "url": "http://127.0.0.1:\#(port)/hooks", "concurrency": \#(concurrency)}]}}"#
                .write(toFile: config, atomically: true, encoding: .utf8)
            let (seconds, stderr) = try runCapturing(options.binary, ["dispatch", "--db", db, "--config", config, "--now", now],
                                                     environment: ["AFTERSALE_WEBHOOK_SECRET": secret])
            // "...; time: release R s, sending S s"
            guard let range = stderr.range(of: "sending "), let sending = Double(stderr[range.upperBound...].prefix { $0 != " " }) else {
                fatalError("no sending time in: \(stderr)")
            }
            let received = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
            precondition(received.allSatisfy { $0.replacingOccurrences(of: " ", with: "").contains(#""status":200"#) }, "a request was refused: its signature did not verify")
            return Sent(seconds: seconds, sendingSeconds: sending, received: received.count)
        }
        print("aftersale-load deliveries: a \(customers)-customer shop over 10 days, dispatched at \(now); \(options.repeats) runs")
        var files: [Double] = [], fast: [Double] = [], fastSending: [Double] = [], python: [Double] = [], pythonSending: [Double] = []
        var slow64: [Double] = [], slow64Sending: [Double] = []
        var sent = 0
        for number in 1...options.repeats {
            let db = try fresh("file")
            let t = try run(options.binary, ["dispatch", "--db", db, "--now", now, "--out", folder + "/out.ndjson"])
            sent = ((try? String(contentsOfFile: folder + "/out.ndjson", encoding: .utf8)) ?? "").split(separator: "\n").count
            files.append(Double(sent) / t)
            let f = try webhooks(delay: 0, concurrency: 8, run: number)
            fast.append(Double(f.received) / f.seconds)
            fastSending.append(Double(f.received) / f.sendingSeconds)
            let p = try webhooks(delay: 0, concurrency: 8, python: true, run: number)
            python.append(Double(p.received) / p.seconds)
            pythonSending.append(Double(p.received) / p.sendingSeconds)
            let s = try webhooks(delay: 200, concurrency: 64, run: number)
            slow64.append(Double(s.received) / s.seconds)
            slow64Sending.append(Double(s.received) / s.sendingSeconds)
            print(String(format: "run %d: %d commands; dispatch --out %.0f/s; at once %.0f/s, sending %.0f/s (%d received); "
                         + "Python receiver at once %.0f/s, sending %.0f/s (%d received); 200 ms at concurrency 64 %.0f/s, sending %.0f/s (%d received)",
                         number, sent, files.last!, fast.last!, fastSending.last!, f.received, python.last!, pythonSending.last!, p.received,
                         slow64.last!, slow64Sending.last!, s.received))
        }
        var slow8: Sent?
        if options.slowDefault {
            // One run at the default concurrency against the slow receiver: it takes minutes.
            slow8 = try webhooks(delay: 200, concurrency: 8, run: 0)
        }
        print("")
        print("| what (\(sent) commands, median of \(options.repeats) unless said) | whole command, commands/s | sending, deliveries/s |")
        print("|---|---|---|")
        print(String(format: "| `dispatch --out FILE` (the baseline of the same run) | %.0f | |", median(files)))
        print(String(format: "| `dispatch --to`, a receiver that answers at once, concurrency 8 | %.0f | %.0f |", median(fast), median(fastSending)))
        print(String(format: "| the same, to tools/receiver/receiver.py (Python, the tests' receiver) | %.0f | %.0f |", median(python), median(pythonSending)))
        print(String(format: "| `dispatch --to`, a receiver that answers in 200 ms, concurrency 64 | %.0f | %.0f |", median(slow64), median(slow64Sending)))
        if let slow8 {
            print(String(format: "| `dispatch --to`, a receiver that answers in 200 ms, concurrency 8 (one run) | %.0f | %.0f |",
                         Double(slow8.received) / slow8.seconds, Double(slow8.received) / slow8.sendingSeconds))
        }
        print("The whole command also releases the commands (the contact rules judged again, each body made and sealed) before sending;")
        print("sending runs from the first try to the last one recorded (the command's own summary line).")
    }

    static func runIngest(_ options: Options, db: String, file: String) throws -> Double {
        try run(options.binary, ["ingest", "--quiet", "--db", db, file])
    }
}
