import ArgumentParser
import AftersaleCore
import AftersaleStore
import Foundation

/// Options every command that touches the database shares.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The SQLite file (default: $AFTERSALE_DB, else ./aftersale.db). May also come before the command (aftersale --db PATH COMMAND); given both, the one after the command wins.", valueName: "PATH"))
    var db: String?

    var path: String { db ?? ProcessInfo.processInfo.environment["AFTERSALE_DB"] ?? "./aftersale.db" }

    /// Opens the log; only `ingest` and `demo` may create the file, the others say it is missing.
    func openLog(creating: Bool = false) throws -> EventLog {
        if !creating && !FileManager.default.fileExists(atPath: path) {
            throw CommandFailure("no database at \(path): ingest events first (aftersale ingest FILE), or name it with --db or $AFTERSALE_DB")
        }
        let log: EventLog
        do {
            log = try EventLog(path: path)
        } catch {
            throw CommandFailure("cannot open the database \(path): \(error)")
        }
        let vault = try log.attachVault(environment: ProcessInfo.processInfo.environment)
        if let file = vault.createdMasterKeyFile {
            Terminal.error("""
                Personal data is kept sealed; its master key is new, in \(file) (readable by you only). Keep a copy of \
                it apart from the database's backups; in production set $\(PersonalDataVault.masterKeyVariable) instead.
                """)
        }
        if let problem = vault.problem { Terminal.error("Warning: personal data is unavailable: \(problem)") }
        if try log.needsSealingMigration() {
            Terminal.error("Sealing the personal data already in \(path) under a key per customer (once; see the README's \"Personal data\")")
            let started = Stopwatch.seconds()
            let summary = try log.sealPersonalDataInPlace { done, head in
                if Terminal.stderrIsTerminal { Terminal.progress(fraction: head > 0 ? Double(done) / Double(head) : nil, detail: "position \(done) of \(head)") }
            }
            if Terminal.stderrIsTerminal { Terminal.clearProgress() }
            Terminal.error(String(format: "Sealed the personal data of %d events, %d stored states and %d queued webhooks in %.1f s.",
                                  summary.events, summary.states, summary.deliveries, Stopwatch.seconds() - started))
        }
        return log
    }
}

/// The wall clock lives here, in the shell, and nowhere else. `AFTERSALE_NOW` pins it (RFC 3339).
enum WallClock {
    static func now() throws -> Timestamp {
        try pinned() ?? unpinned()
    }

    /// The time `AFTERSALE_NOW` pins, if it is set.
    static func pinned() throws -> Timestamp? {
        guard let pinned = ProcessInfo.processInfo.environment["AFTERSALE_NOW"], !pinned.isEmpty else { return nil }
        do { return try Timestamp.parse(pinned) } catch {
            throw CommandFailure("AFTERSALE_NOW='\(pinned)' is not an RFC 3339 timestamp: \(error.message)")
        }
    }

    /// The system's time, whatever `AFTERSALE_NOW` says.
    static func unpinned() -> Timestamp {
        Timestamp(millis: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// Whether a name is in the system's time-zone database.
    @Sendable static func isKnownTimeZone(_ name: String) -> Bool { TimeZone(identifier: name) != nil }
}

enum Terminal {
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// A one-line progress bar on standard error, redrawn in place.
    static func progress(fraction: Double?, detail: String) {
        var line = "\r"
        if let fraction {
            let width = 30
            let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded(.down))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
            line += String(format: "%3.0f%% ", fraction * 100)
        }
        line += detail + "\u{1B}[K"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func clearProgress() { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
}

/// Reads a monotonic clock for throttling and rates (never for domain time).
enum Stopwatch {
    static func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

/// A command that cannot do its job: printed as `Error: <why>` with exit status 1, no usage text
/// (ArgumentParser's `ValidationError` is for bad arguments and prints the usage).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
