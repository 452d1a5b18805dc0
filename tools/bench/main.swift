// aftersale-bench: ingest speed and memory against raw libsqlite3, measured in the same run.
//
//   swift build -c release && .build/release/aftersale-bench [--sizes 100000,1000000] [--dir DIR]
import AftersaleCore
import AftersaleIngest
import AftersaleStore
import AftersaleSQLite
import AftersaleProjections
import BuyTillYouDie
import Foundation
import ShopSimulator

enum Stopwatch {
    static func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

struct Arguments {
    var sizes = [100_000, 1_000_000]
    var directory = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-bench").path
    var keep = false
    var python = "python3"
    var cdnow = "Tests/BuyTillYouDieTests/Fixtures/cdnow_sample.txt"
    var fitCustomers = 1_000_000
    /// A separate, larger log for the rebuild's memory target (0: rebuild the largest of `sizes`).
    var rebuildEvents = 0
    var rebuildCustomers: Int?
    /// Random UUID ids, as webhooks send, instead of the simulator's ids in order.
    var randomIDs = false
    /// Timed runs of each ingest, baseline and "rebuild again": the table shows their median.
    var repeats = 1
    /// Customers of the shop whose first reactor run is timed beside its rebuild (0: none).
    var reactorCustomers = 10_000
    /// Customers of a shop whose `fit`, `export customers` and `report` are timed beside its
    /// rebuild (0: none; the issue's scale is 1,000,000).
    var shopCustomers = 0
    /// Events of a shop ingested and rebuilt with personal data sealed and in clear (0: not run).
    var sealingEvents = 0
    /// Timed runs of `aftersale demo`, end to end, in an empty folder each (0: none).
    var demoRuns = 0

    init() {
        var args = CommandLine.arguments.dropFirst().makeIterator()
        while let arg = args.next() {
            switch arg {
            case "--sizes": sizes = (args.next() ?? "").split(separator: ",").compactMap { Int($0) }
            case "--dir": directory = args.next() ?? directory
            case "--keep": keep = true
            case "--python": python = args.next() ?? python
            case "--cdnow": cdnow = args.next() ?? cdnow
            case "--fit-customers": fitCustomers = Int(args.next() ?? "") ?? fitCustomers
            case "--rebuild-events": rebuildEvents = Int(args.next() ?? "") ?? 0
            case "--rebuild-customers": rebuildCustomers = Int(args.next() ?? "")
            case "--random-ids": randomIDs = true
            case "--repeat": repeats = max(1, Int(args.next() ?? "") ?? 1)
            case "--reactor-customers": reactorCustomers = max(0, Int(args.next() ?? "") ?? reactorCustomers)
            case "--shop-customers": shopCustomers = max(0, Int(args.next() ?? "") ?? 0)
            case "--sealing": sealingEvents = max(0, Int(args.next() ?? "") ?? 0)
            case "--demo-runs": demoRuns = max(0, Int(args.next() ?? "") ?? 0)
            default:
                print("usage: aftersale-bench [--sizes N,N,...] [--dir DIR] [--keep] [--python PATH] [--cdnow FILE] [--fit-customers N] [--rebuild-events N [--rebuild-customers N]] [--random-ids] [--repeat N] [--reactor-customers N] [--shop-customers N] [--sealing N] [--demo-runs N]")
                exit(2)
            }
        }
    }
}

/// Flushes what earlier steps wrote before a measured step starts: otherwise the kernel writes a
/// large ingest's file back to disk while the rebuild after it is timed, and the rebuild's system
/// time counts that writing.
func settle() {
    sync()
}

/// Gives every event of an NDJSON file the simulator wrote (`{"id":"...",` first on each line) a
/// random UUID-like id from a seeded generator. With ids in order, each batch adds to one end of the
/// unique id index; with random ones it lands all over it, as webhook ids do.
func randomizeIDs(_ path: String, seed: UInt64) throws {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let prefix = Array(#"{"id":""#.utf8)
    var random = SimulationRandom(seed: seed)
    func uuid() -> String {
        let hex = String(format: "%016llx%016llx", random.next(), random.next())
        let h = Array(hex)
        return [h[0..<8], h[8..<12], h[12..<16], h[16..<20], h[20..<32]].map { String($0) }.joined(separator: "-")
    }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + bytes.count / 4)
    var start = 0
    while start < bytes.count {
        let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
        let idStart = start + prefix.count
        if bytes[start..<end].starts(with: prefix), let close = bytes[idStart..<end].firstIndex(of: UInt8(ascii: "\"")) {
            out += prefix
            out += Array(uuid().utf8)
            out += bytes[close..<end]
        } else {
            out += bytes[start..<end]
        }
        if end < bytes.count { out.append(0x0A) }
        start = end + 1
    }
    try Data(out).write(to: URL(fileURLWithPath: path))
}

/// Marks the line a runner appends after its child's output: "status maxRSSKiB".
let runnerTrailer = "\u{1}aftersale-bench-runner "

/// Runs a child process and returns its wall time, exit status, peak RSS (KiB) and output.
///
/// The child is started by a small runner (this program with `--runner`): on Linux a spawned
/// child's peak RSS starts from its parent's size at the spawn, and this benchmark's own process
/// is large by then; the runner is small, so its child's figure is the child's own.
/// With `stderrToo`, the output holds the child's standard error as well (its lines may fall inside
/// a line of standard output, which is written in blocks).
func runChild(_ path: String, _ arguments: [String], stderrToo: Bool = false) -> (seconds: Double, status: Int32, maxRSSKiB: Int, stdout: String) {
    settle()
    let started = Stopwatch.seconds()
    let run = spawnAndWait(CommandLine.arguments[0], [stderrToo ? "--runner-all" : "--runner", path] + arguments)
    let seconds = Stopwatch.seconds() - started
    guard let trailer = run.stdout.range(of: runnerTrailer, options: .backwards) else { return (seconds, run.status, 0, run.stdout) }
    let fields = run.stdout[trailer.upperBound...].split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    return (seconds, Int32(fields.first ?? 1), fields.count > 1 ? fields[1] : 0, String(run.stdout[..<trailer.lowerBound]))
}

/// Spawns `path`, collects its standard output, and returns its exit status and peak RSS (KiB).
func spawnAndWait(_ path: String, _ arguments: [String], stderrToo: Bool = false) -> (seconds: Double, status: Int32, maxRSSKiB: Int, stdout: String) {
    var pipe: [Int32] = [0, 0]
    _ = pipe.withUnsafeMutableBufferPointer { Glibc.pipe($0.baseAddress!) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
    if stderrToo { posix_spawn_file_actions_adddup2(&actions, pipe[1], 2) }
    posix_spawn_file_actions_addclose(&actions, pipe[0])
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    var pid: pid_t = 0
    let started = Stopwatch.seconds()
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    precondition(rc == 0, "cannot start \(path)")
    close(pipe[1])
    var output = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(pipe[0], &buffer, buffer.count)
        if n <= 0 { break }
        output.append(contentsOf: buffer[0..<n])
    }
    close(pipe[0])
    var status: Int32 = 0
    var usage = rusage()
    wait4(pid, &status, 0, &usage)
    let seconds = Stopwatch.seconds() - started
    argv.forEach { free($0) }
    return (seconds, (status >> 8) & 0xFF, Int(usage.ru_maxrss), String(decoding: output, as: UTF8.self))
}

func removeDatabase(_ path: String) {
    for suffix in ["", "-wal", "-shm", "-rebuild.lock"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

/// Removes the keys file (with its journal) and master key made beside the database at `path`, so
/// that the next ingest makes every customer's key, as a first one does.
func removeKeys(besideDatabase path: String) {
    let stem = (path as NSString).deletingPathExtension
    for suffix in [".keys", ".keys-journal", ".keys-wal", ".keys-shm", ".master-key"] {
        try? FileManager.default.removeItem(atPath: stem + suffix)
    }
}

/// The line `actions` ends with on standard error: "reactor: N new events, ...".
func summaryLine(_ output: String) -> Substring? {
    guard let start = output.range(of: "reactor: ", options: .backwards) else { return nil }
    return output[start.lowerBound...].prefix { $0 != "\n" }
}

/// The median of some timings (the mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// A rate in thousands per second from the median of `seconds`, with the range of the runs when
/// there are several ("231k (188k-257k)").
func rateCell(_ count: Int, _ seconds: [Double]) -> String {
    func k(_ s: Double) -> String { String(format: "%.0fk", Double(count) / s / 1000) }
    guard seconds.count > 1, let fastest = seconds.min(), let slowest = seconds.max() else { return k(median(seconds)) }
    return "\(k(median(seconds))) (\(k(slowest))-\(k(fastest)))"
}

/// Runs the CLI, untimed, on the first line of `file` into a scratch database, right before a timed
/// run of it: a warm-up. This machine lets go of cached file pages within seconds, and loading the
/// executable and its libraries from disk again made a timed run longer, which the baseline, run
/// in this process with its code loaded, never pays.
func warmUp(_ aftersale: String, _ file: String, in directory: String) {
    let line = "\(directory)/warm-up.ndjson"
    let db = "\(directory)/warm-up.db"
    guard let handle = FileHandle(forReadingAtPath: file), let head = try? handle.read(upToCount: 1 << 16),
          let end = head.firstIndex(of: 0x0A) else { return }
    try? handle.close()
    _ = FileManager.default.createFile(atPath: line, contents: head[..<end] + Data([0x0A]))
    removeDatabase(db)
    _ = spawnAndWait(aftersale, ["ingest", "--quiet", "--db", db, line])
    removeDatabase(db)
    try? FileManager.default.removeItem(atPath: line)
}

if CommandLine.arguments.count > 2, ["--runner", "--runner-all"].contains(CommandLine.arguments[1]) {
    let run = spawnAndWait(CommandLine.arguments[2], Array(CommandLine.arguments.dropFirst(3)), stderrToo: CommandLine.arguments[1] == "--runner-all")
    print(run.stdout + runnerTrailer + "\(run.status) \(run.maxRSSKiB)")
    exit(0)
}
let args = Arguments()
try FileManager.default.createDirectory(atPath: args.directory, withIntermediateDirectories: true)
let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
let aftersale = binDirectory.appendingPathComponent("aftersale").path
guard FileManager.default.isExecutableFile(atPath: aftersale) else {
    print("build the CLI first: swift build -c release (looked for \(aftersale))")
    exit(1)
}
#if DEBUG
print("warning: this is a debug build; run `swift build -c release` and .build/release/aftersale-bench")
#endif

let clock = Timestamp(millis: 4_102_444_800_000)  // 2100-01-01: every simulated event is in the past
if args.sealingEvents > 0 {
    try benchSealing(events: args.sealingEvents, repeats: args.repeats, directory: args.directory)
    exit(0)
}
print("aftersale-bench: ingest from NDJSON into a fresh SQLite file; \(ProcessInfo.processInfo.activeProcessorCount) cores")
print("baseline: raw libsqlite3 inserting the same rows (same table, unique id and (customer, version) indexes,")
print("          same pragmas and bulk-load checkpointing, same batch size), pre-split in memory:")
print("          no reading, no JSON, no validation, no version look-ups")
print("each timed ingest runs right after an untimed one-line ingest by the same executable (a warm-up:")
print("          this machine lets go of cached file pages within seconds; the baseline runs in this process)")
if args.repeats > 1 {
    print("each ingest, baseline and rebuild ran \(args.repeats) times: the median, and in brackets the slowest and fastest run;")
    print("          before each first build but the first, the read model was taken away (untimed)")
}
print("")
var rows: [[String]] = []
var rebuildDatabase: String?
var rebuildEvents = 0
for size in args.sizes {
    let file = "\(args.directory)/events-\(size).ndjson"
    // 1. Generate realistic events with the shop simulator.
    let generateStarted = Stopwatch.seconds()
    _ = FileManager.default.createFile(atPath: file, contents: nil)
    let handle = FileHandle(forWritingAtPath: file)!
    let simulation = ShopSimulation(.benchmark(events: size))
    let written = try simulation.writeNDJSON { chunk in try handle.write(contentsOf: Data(chunk)) }
    try handle.close()
    let generateSeconds = Stopwatch.seconds() - generateStarted
    if args.randomIDs { try randomizeIDs(file, seed: 42) }
    let bytes = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0

    // 2. Ours: the release CLI in a child process, started before this process holds any rows:
    //    on Linux a child's peak RSS counts from the parent's size when it was spawned.
    let db = "\(args.directory)/aftersale-\(size).db"
    /// `--repeat` timed ingests of `file` into a fresh `database` each, each after a warm-up. As before
    /// the baseline, what was written is flushed first, so that its writeback does not compete with
    /// the ingest's syncs: both are measured on the same footing.
    func timedIngests(into database: String, _ options: [String], keepLast: Bool) -> (seconds: [Double], maxRSSKiB: Int) {
        var seconds: [Double] = []
        var rss = 0
        for run in 0..<args.repeats {
            removeDatabase(database)
            settle()
            warmUp(aftersale, file, in: args.directory)
            let child = runChild(aftersale, ["ingest", "--quiet", "--json"] + options + ["--db", database, file])
            guard child.status == 0, child.stdout.contains("\"appended\":\(written)") else {
                print("ingest failed (status \(child.status)): \(child.stdout)")
                exit(1)
            }
            seconds.append(child.seconds)
            rss = max(rss, child.maxRSSKiB)
            if !(keepLast && run == args.repeats - 1) { removeDatabase(database) }
        }
        return (seconds, rss)
    }
    let (ingestSeconds, ingestRSS) = timedIngests(into: db, ["--defer-projections"], keepLast: true)
    // The same file into a fresh database, with the customers projection caught up as ingest does by default.
    let (withProjectionsSeconds, withProjectionsRSS) = timedIngests(into: "\(args.directory)/aftersale-projections-\(size).db", [], keepLast: false)
    if size == args.sizes.max() {
        rebuildDatabase = db
        rebuildEvents = written
    } else if !args.keep {
        removeDatabase(db)
    }

    // 3. Decode only (one thread): what the JSON reading and validation costs.
    var decoder = NDJSONDecoder(validator: EventValidator(now: clock))
    var encoded: [EncodedEvent] = []
    encoded.reserveCapacity(written)
    var fileBytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
    let decodeStarted = Stopwatch.seconds()
    try fileBytes.withUnsafeMutableBufferPointer { buffer in
        var start = 0
        for i in 0..<buffer.count where buffer[i] == 0x0A {
            if let event = try decoder.encode(UnsafeBufferPointer(rebasing: buffer[start..<i])) { encoded.append(event) }
            start = i + 1
        }
    }
    let decodeSeconds = Stopwatch.seconds() - decodeStarted
    fileBytes = []

    // 4. The baseline: the same rows, raw libsqlite3.
    var versions: [String: Int64] = [:]
    let baselineRows = encoded.map { e -> RawSQLiteBaseline.Row in
        versions[e.customer, default: 0] += 1
        return RawSQLiteBaseline.Row(id: e.id, type: e.type.rawValue, customer: e.customer, version: versions[e.customer]!,
                                     at: e.at.millis, data: e.data, meta: e.meta)
    }
    encoded = []
    let baselineDB = "\(args.directory)/baseline-\(size).db"
    var baselineRuns: [Double] = []
    for _ in 0..<args.repeats {
        removeDatabase(baselineDB)
        settle()
        baselineRuns.append(RawSQLiteBaseline.insert(baselineRows, path: baselineDB, batchSize: IngestOptions(now: clock).batchSize,
                                                     pragmas: Database.newFilePragmas + " PRAGMA journal_mode=WAL; " + Database.connectionPragmas + Database.bulkLoadPragmas,
                                                     afterLoad: Database.afterBulkLoadPragmas))
        removeDatabase(baselineDB)
    }
    if !args.keep { try? FileManager.default.removeItem(atPath: file) }

    func rate(_ seconds: Double) -> String { String(format: "%.0fk", Double(written) / seconds / 1000) }
    rows.append([
        "\(written)\(args.randomIDs ? " (random ids)" : "")", String(format: "%.0f MB", Double(bytes) / 1e6), rate(generateSeconds), rate(decodeSeconds),
        rateCell(written, baselineRuns), rateCell(written, ingestSeconds), String(format: "%.2f", median(baselineRuns) / median(ingestSeconds)),
        "\(ingestRSS / 1024) MiB", rateCell(written, withProjectionsSeconds), "\(withProjectionsRSS / 1024) MiB",
    ])
}

let header = ["events", "file", "generate/s", "decode/s (1 thread)", "raw sqlite/s (baseline)", "aftersale ingest/s",
              "ingest / baseline", "ingest peak RSS", "ingest + projection catch-up/s", "its peak RSS"]
let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
func line(_ cells: [String]) -> String {
    "| " + cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
}
print(line(header))
print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
for row in rows { print(line(row)) }

// MARK: - Projections and models (issue 3)

print("")
print("projections and customer-value models")
var modelRows: [[String]] = []

// Rebuild of the customers projection from position 0, against raw scans of the same file.
@MainActor func benchRebuild(_ db: String, events: Int) {
    let customers = (try? Database(path: db, readOnly: true).scalarInt("SELECT count(*) FROM streams")) ?? 0
    let eventScan = RawSQLiteBaseline.scan(path: db, table: "events",
                                           columns: ["position", "id", "type", "customer", "version", "at", "at_offset", "schema", "data", "meta", "recorded"])
    let factScan = RawSQLiteBaseline.scan(path: db, table: "stream_facts", columns: ["stream", "version", "position", "facts"])
    // The first build, over an empty read model, then a rebuild that replaces a full one. Each runs
    // `--repeat` times; before each first build after the first, the read model is taken away again.
    for (pass, first) in [("rebuild (over an empty read model)", true), ("rebuild again (replacing the built table)", false)] {
        var seconds: [Double] = []  // the rebuild's own clock, as it reports its rate
        var wall: [Double] = []
        var rss = 0
        for index in 0..<args.repeats {
            if first, index > 0 { emptyReadModel(db) }
            let run = runChild(aftersale, ["rebuild", "--quiet", "--db", db])
            let rate = run.stdout.split(separator: "(").last.flatMap { Double($0.split(separator: " ").first ?? "") } ?? 0
            seconds.append(rate > 0 ? Double(events) / rate : .infinity)
            wall.append(run.seconds)
            rss = max(rss, run.maxRSSKiB)
        }
        modelRows.append(["\(pass), \(events) events, \(customers) customers",
                          rateCell(events, seconds) + " events/s" + String(format: " (%.1f s)", median(wall)),
                          String(format: "raw scan: events %.0fk rows/s, stream_facts %.0fk rows/s", eventScan / 1000, factScan / 1000),
                          "peak RSS \(rss / 1024) MiB"])
    }
}

/// Takes the customers read model away (untimed), as an ingest with `--defer-projections` leaves
/// the file (no `customers` table, no checkpoint for it): a rebuild after this is a first build
/// again. The table's pages go to the file's free list, where the build takes its pages from, as a
/// rebuild that replaces a table does; the very first build grows the file instead.
func emptyReadModel(_ path: String) {
    do {
        let database = try Database(path: path)
        try database.inTransaction {
            try database.execute("DROP TABLE customers; DELETE FROM projection_checkpoints WHERE name = 'customers'")
        }
        try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    } catch {
        print("cannot empty the read model of \(path): \(error)")
        exit(1)
    }
}

if let db = rebuildDatabase {
    benchRebuild(db, events: rebuildEvents)
    if !args.keep { removeDatabase(db) }
}
if args.rebuildEvents > 0 {
    let file = "\(args.directory)/events-rebuild-\(args.rebuildEvents).ndjson"
    let db = "\(args.directory)/aftersale-rebuild-\(args.rebuildEvents).db"
    removeDatabase(db)
    _ = FileManager.default.createFile(atPath: file, contents: nil)
    let handle = FileHandle(forWritingAtPath: file)!
    let simulation = ShopSimulation(.benchmark(events: args.rebuildEvents, customers: args.rebuildCustomers ?? args.rebuildEvents / 10))
    let written = try simulation.writeNDJSON { chunk in try handle.write(contentsOf: Data(chunk)) }
    try handle.close()
    let ingest = runChild(aftersale, ["ingest", "--quiet", "--json", "--defer-projections", "--db", db, file])
    if !args.keep { try? FileManager.default.removeItem(atPath: file) }
    guard ingest.status == 0 else {
        print("ingest of the rebuild log failed (status \(ingest.status)): \(ingest.stdout)")
        exit(1)
    }
    modelRows.append(["ingest \(written) events for the rebuild", String(format: "%.0fk events/s", Double(written) / ingest.seconds / 1000),
                      "", "peak RSS \(ingest.maxRSSKiB / 1024) MiB"])
    benchRebuild(db, events: written)
    if !args.keep { removeDatabase(db) }
}

// The reactor's first run over a simulated shop (the demo's, by default), beside the rebuild of the
// same log: the fold of the same events without the policies.
/// The demo's shop at `customers` customers, written as NDJSON: its configuration, the file, a
/// database path beside it named after `name`, and how many events were written.
func simulatedShop(_ name: String, customers: Int) throws -> (configuration: SimulationConfiguration, file: String, db: String, written: Int) {
    var configuration = SimulationConfiguration.demo()
    configuration.customers = customers
    let file = "\(args.directory)/events-\(name)-\(customers).ndjson"
    _ = FileManager.default.createFile(atPath: file, contents: nil)
    let handle = FileHandle(forWritingAtPath: file)!
    let written = try ShopSimulation(configuration).writeNDJSON { chunk in try handle.write(contentsOf: Data(chunk)) }
    try handle.close()
    return (configuration, file, "\(args.directory)/aftersale-\(name)-\(customers).db", written)
}

/// "N customers loaded" from a reactor run's summary line, or nothing.
func customersLoaded(_ output: String) -> String {
    summaryLine(output)?.split(separator: ",").first { $0.contains("customers loaded") }.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
}

if args.reactorCustomers > 0 {
    let (configuration, file, db, written) = try simulatedShop("reactor", customers: args.reactorCustomers)
    // The demo's present: noon on the last simulated day.
    let now = Timestamp(millis: (configuration.start + Int64(configuration.days) * 86_400) * 1000 - 12 * 3_600_000)
    // One thread, then one per core; then, on the outbox the last first run left, the next day's
    // run and one customer's replay.
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let threadCounts = cores > 1 ? [1, cores] : [1]
    var seconds: [Int: [Double]] = [:]
    var rss: [Int: Int] = [:]
    var commands = 0
    var writing: [Double] = []
    var writtenRows = 0
    var nextDay: [Double] = []
    var nextDayRSS = 0
    var nextDayLoaded = ""
    var monthLater: [Double] = []
    var monthLaterRSS = 0
    var monthLaterLoaded = ""
    var replay: [Double] = []
    var replayRSS = 0
    var customer = ""
    let fitted = db + ".fitted"
    let nextMorning = now.adding(millis: 24 * 3_600_000)
    // Past a forecast period's end: each customer the plays still ask their forecast is due then.
    let aMonthLater = nextMorning.adding(millis: 30 * 24 * 3_600_000)
    for _ in 0..<args.repeats {
        removeDatabase(db)
        let ingest = runChild(aftersale, ["ingest", "--quiet", "--defer-projections", "--db", db, file])
        guard ingest.status == 0 else {
            print("the reactor's shop did not ingest: \(ingest.stdout)")
            exit(1)
        }
        // As the demo does; a shop too small for a model runs without one.
        _ = runChild(aftersale, ["fit", "--db", db, "--as-of", now.dateString])
        removeDatabase(fitted)
        try FileManager.default.copyItem(atPath: db, toPath: fitted)
        if FileManager.default.fileExists(atPath: db + "-wal") { try FileManager.default.copyItem(atPath: db + "-wal", toPath: fitted + "-wal") }
        for threads in threadCounts {
            removeDatabase(db)
            try FileManager.default.copyItem(atPath: fitted, toPath: db)
            if FileManager.default.fileExists(atPath: fitted + "-wal") { try FileManager.default.copyItem(atPath: fitted + "-wal", toPath: db + "-wal") }
            let run = runChild(aftersale, ["actions", "--db", db, "--now", now.description, "--threads", String(threads)], stderrToo: true)
            guard run.status == 0 else {
                print("the reactor's run failed (status \(run.status)): \(run.stdout.suffix(2000))")
                exit(1)
            }
            seconds[threads, default: []].append(run.seconds)
            rss[threads] = max(rss[threads] ?? 0, run.maxRSSKiB)
            // "...; time: loading 0.08 s, events 5.65 s, clock 2.44 s, writing 237622 commands and customers 3.83 s"
            if threads == threadCounts.last, let line = summaryLine(run.stdout),
               let part = line.split(separator: ",").last(where: { $0.contains("writing") }) {
                let numbers = part.split(separator: " ").compactMap { Double($0) }
                if numbers.count == 2 {
                    writtenRows = Int(numbers[0])
                    writing.append(numbers[1])
                }
            }
        }
        commands = (try? Database(path: db, readOnly: true).scalarInt("SELECT count(*) FROM outbox")).map(Int.init) ?? 0
        let next = runChild(aftersale, ["actions", "--db", db, "--now", nextMorning.description], stderrToo: true)
        nextDay.append(next.seconds)
        nextDayRSS = max(nextDayRSS, next.maxRSSKiB)
        nextDayLoaded = customersLoaded(next.stdout)
        let month = runChild(aftersale, ["actions", "--db", db, "--now", aMonthLater.description], stderrToo: true)
        monthLater.append(month.seconds)
        monthLaterRSS = max(monthLaterRSS, month.maxRSSKiB)
        monthLaterLoaded = customersLoaded(month.stdout)
        // The customer with the most events: the longest story to replay.
        customer = (try? Database(path: db, readOnly: true).scalarText(
            "SELECT customer FROM events WHERE customer <> '$system' GROUP BY customer ORDER BY count(*) DESC, customer LIMIT 1")).flatMap { $0 } ?? ""
        let one = runChild(aftersale, ["replay", "--db", db, "--customer", customer, "--until", now.description])
        replay.append(one.seconds)
        replayRSS = max(replayRSS, one.maxRSSKiB)
    }
    for threads in threadCounts {
        let runs = seconds[threads] ?? []
        modelRows.append(["reactor, first run, \(written) events, \(args.reactorCustomers) customers, \(threads) thread\(threads == 1 ? "" : "s")",
                          rateCell(written, runs) + " events/s" + String(format: " (%.1f s)", median(runs)),
                          threads == threadCounts.last
                            ? String(format: "\(commands) commands in the outbox; writing \(writtenRows) commands and customers %.2f s", median(writing))
                            : "\(commands) commands in the outbox; the rebuild of the same log below",
                          "peak RSS \((rss[threads] ?? 0) / 1024) MiB"])
    }
    modelRows.append(["reactor, the next day's run (\(nextMorning))", String(format: "%.2f s", median(nextDay)), nextDayLoaded,
                      "peak RSS \(nextDayRSS / 1024) MiB"])
    modelRows.append(["reactor, a month after that (\(aMonthLater))", String(format: "%.2f s", median(monthLater)), monthLaterLoaded,
                      "peak RSS \(monthLaterRSS / 1024) MiB"])
    modelRows.append(["replay --customer \(customer) (the most events), to the end", String(format: "%.2f s", median(replay)), "",
                      "peak RSS \(replayRSS / 1024) MiB"])
    removeDatabase(fitted)
    emptyReadModel(db)  // `fit` built it
    benchRebuild(db, events: written)
    if !args.keep {
        removeDatabase(db)
        try? FileManager.default.removeItem(atPath: file)
    }
}

// `aftersale demo` as a user runs it: simulate, ingest, fit, the reactor's first run and the report,
// in an empty folder each time. Its own timer's reactor step is printed beside the wall time.
if args.demoRuns > 0 {
    var wall: [Double] = []
    var reactorSteps: [Double] = []
    var demoRSS = 0
    for run in 0..<args.demoRuns {
        let folder = "\(args.directory)/demo-\(run)"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let demo = runChild(aftersale, ["demo", "--db", "\(folder)/aftersale.db", "--out", "\(folder)/report.html"])
        guard demo.status == 0 else {
            print("the demo failed (status \(demo.status)): \(demo.stdout.suffix(2000))")
            exit(1)
        }
        wall.append(demo.seconds)
        demoRSS = max(demoRSS, demo.maxRSSKiB)
        // "Done in 6.9 s: simulate ...; reactor 5.6 s; report 0.6 s"
        if let done = demo.stdout.range(of: "Done in ", options: .backwards),
           let step = demo.stdout[done.upperBound...].split(separator: ";").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("reactor ") }),
           let seconds = step.split(separator: " ").compactMap({ Double($0) }).first {
            reactorSteps.append(seconds)
        }
        if !args.keep { try? FileManager.default.removeItem(atPath: folder) }
    }
    modelRows.append(["aftersale demo, end to end (\(args.demoRuns) runs)", String(format: "%.1f s", median(wall)),
                      String(format: "its reactor step %.1f s (%@)", median(reactorSteps),
                             (wall.map { String(format: "%.1f", $0) }).joined(separator: ", ") + " s end to end"),
                      "peak RSS \(demoRSS / 1024) MiB"])
}

// The commands that read every customer (fit, export customers, report) over a simulated shop of
// `--shop-customers`, beside the rebuild of the same log, with the ingest that made it.
if args.shopCustomers > 0 {
    let (configuration, file, db, written) = try simulatedShop("shop", customers: args.shopCustomers)
    let asOf = Timestamp(millis: (configuration.start + Int64(configuration.days) * 86_400) * 1000 - 86_400_000).dateString
    // `--repeat` ingests, each into a new file (the last one kept for the commands below).
    var ingestSeconds: [Double] = []
    var ingestRSS = 0
    for _ in 0..<args.repeats {
        removeDatabase(db)
        removeKeys(besideDatabase: db)
        let ingest = runChild(aftersale, ["ingest", "--quiet", "--db", db, file])
        guard ingest.status == 0 else {
            print("the shop did not ingest: \(ingest.stdout)")
            exit(1)
        }
        ingestSeconds.append(ingest.seconds)
        ingestRSS = max(ingestRSS, ingest.maxRSSKiB)
    }
    modelRows.append(["ingest \(written) events, \(args.shopCustomers) customers, projections included",
                      String(format: "%.0fk events/s (%.1f s)", Double(written) / median(ingestSeconds) / 1000, median(ingestSeconds)),
                      ingestSeconds.count > 1 ? String(format: "runs %@ s", ingestSeconds.map { String(format: "%.1f", $0) }.joined(separator: ", ")) : "",
                      "peak RSS \(ingestRSS / 1024) MiB"])
    let steps: [(String, [String])] = [
        ("fit", ["fit", "--db", db, "--as-of", asOf]),
        ("export customers", ["export", "customers", "--db", db, "--as-of", asOf, "--out", "\(args.directory)/customers.csv"]),
        ("report", ["report", "--db", db, "--out", "\(args.directory)/report.html"]),
    ]
    for (name, arguments) in steps {
        var seconds: [Double] = []
        var rss = 0
        for _ in 0..<args.repeats {
            let run = runChild(aftersale, arguments)
            guard run.status == 0 else {
                print("\(name) failed (status \(run.status)): \(run.stdout.suffix(2000))")
                exit(1)
            }
            seconds.append(run.seconds)
            rss = max(rss, run.maxRSSKiB)
        }
        modelRows.append(["\(name), \(args.shopCustomers) customers", String(format: "%.2f s", median(seconds)),
                          seconds.count > 1 ? String(format: "runs %@", seconds.map { String(format: "%.2f", $0) }.joined(separator: ", ")) : "",
                          "peak RSS \(rss / 1024) MiB"])
    }
    emptyReadModel(db)
    benchRebuild(db, events: written)
    if !args.keep {
        removeDatabase(db)
        for path in [file, "\(args.directory)/customers.csv", "\(args.directory)/report.html"] { try? FileManager.default.removeItem(atPath: path) }
    }
}

// BG/NBD on CDNOW, against Python lifetimes in the same run.
func cdnowStatistics() throws -> SufficientStatistics {
    let text = try String(contentsOfFile: args.cdnow, encoding: .utf8)
    var byCustomer: [Int: [Purchase]] = [:]
    for line in text.split(whereSeparator: \.isNewline) {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        guard f.count == 5, let id = Int(f[1]), let date = CivilDate.parse(String(f[2])), let value = Double(f[4]) else { continue }
        byCustomer[id, default: []].append(Purchase(day: Int(date.daysSinceEpoch), value: value))
    }
    let end = Int(CivilDate(year: 1997, month: 9, day: 30).daysSinceEpoch)
    return SufficientStatistics(byCustomer.keys.sorted().compactMap { RFMSummary(purchases: byCustomer[$0]!, calibrationEnd: end, unit: .week) })
}

func bestOf(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<runs {
        let started = Stopwatch.seconds()
        try body()
        best = min(best, Stopwatch.seconds() - started)
    }
    return best
}

if FileManager.default.fileExists(atPath: args.cdnow) {
    let statistics = try cdnowStatistics()
    let ours = try bestOf(20) { _ = try BGNBD.fit(statistics) } * 1000
    let python = runChild("/usr/bin/env", [args.python, "tools/baselines/lifetimes_cdnow.py", args.cdnow, "5"])
    let baseline = python.stdout.split(separator: "\n").last.flatMap { line -> Double? in
        guard let object = try? JSONParser.parse(String(line)), let ms = object["bgnbd"]?["fit_ms"]?.doubleValue else { return nil }
        return ms
    }
    let baselineText = baseline.map { String(format: "Python lifetimes %.1f ms (%.0fx)", $0, $0 / ours) }
        ?? "Python lifetimes not available (\(args.python) -m pip install lifetimes; --python PATH)"
    modelRows.append(["fit BG/NBD on CDNOW (\(statistics.customerCount) customers)", String(format: "%.2f ms", ours), baselineText, ""])
} else {
    modelRows.append(["fit BG/NBD on CDNOW", "skipped", "no \(args.cdnow) (--cdnow FILE)", ""])
}

// BG/NBD on a million simulated customers: summaries to sufficient statistics to a fit.
do {
    let truth = BGNBD(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
    let customers = truth.simulateCustomers(count: args.fitCustomers, firstPurchaseDays: 0..<84, calibrationEnd: 273, unit: .week,
                                            spend: nil, seed: 1)
    var statistics = SufficientStatistics([])
    let collapse = bestOf(1) { statistics = SufficientStatistics(customers) }
    var fitted: Fit<BGNBD>?
    let fit = try bestOf(1) { fitted = try BGNBD.fit(statistics) }
    let m = fitted!.model
    modelRows.append(["fit BG/NBD on \(args.fitCustomers) simulated customers", String(format: "%.2f s", collapse + fit),
                      String(format: "collapse %.2f s to %d rows, fit %.2f s", collapse, statistics.rows.count, fit),
                      String(format: "r %.3f alpha %.2f a %.3f b %.3f (truth 0.243 4.41 0.793 2.426)", m.r, m.alpha, m.a, m.b)])
}

let modelWidths = (0..<4).map { i in modelRows.map { $0[i].count }.max() ?? 0 }
for row in modelRows {
    print("| " + row.enumerated().map { $0.element.padding(toLength: modelWidths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |")
}
