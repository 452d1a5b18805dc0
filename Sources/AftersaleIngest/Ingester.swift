public import AftersaleCore
public import AftersaleStore
internal import Foundation

/// The input format of `aftersale ingest`.
public enum InputFormat: String, Sendable, CaseIterable {
    /// One catalogue event per line.
    case ndjson
    /// `customer_id,date,amount[,order_id][,currency]`.
    case transactions
}

/// How to ingest.
public struct IngestOptions: Sendable {
    public var format: InputFormat = .ndjson
    /// One rejects file for every input; nil writes each input's rejects beside it.
    public var rejectsPath: String?
    /// The currency of a transactions CSV that has no currency column.
    public var defaultCurrency: String?
    /// Events per transaction at most (a file starts with 1,024 and doubles up to this): a crash
    /// loses at most the batch in flight, never part of one.
    /// Bigger batches write each hot index page to the WAL fewer times, for a fixed amount of
    /// memory more.
    public var batchSize = 32_768
    /// The ingest clock: judges plausible timestamps and stamps `recorded`.
    public var now: Timestamp
    public var isKnownTimeZone: @Sendable (String) -> Bool = EventValidator.plausibleZoneName

    public init(now: Timestamp) { self.now = now }
}

/// What an ingest did.
public struct IngestSummary: Sendable, Equatable, CustomStringConvertible {
    public var appended = 0
    public var duplicates = 0
    /// Lines refused, conflicts (a known id with different content) included.
    public var rejected = 0
    public var conflicts = 0
    public var lines = 0
    /// Where the rejected lines were written, one file per input unless `--rejects` named one.
    public var rejectsFiles: [String] = []
    public var seconds = 0.0

    public var description: String { "appended \(appended), duplicates \(duplicates), rejected \(rejected)" }

    public var json: String {
        let object = JSONObject([
            "appended": .integer(appended), "duplicates": .integer(duplicates), "rejected": .integer(rejected),
            "conflicts": .integer(conflicts), "lines": .integer(lines),
            "rejects_files": .array(rejectsFiles.map(JSONValue.string)), "seconds": .double((seconds * 1000).rounded() / 1000),
        ])
        return JSONValue.object(object).compactText
    }
}

/// Progress of a running ingest, for a progress bar.
public struct IngestProgress: Sendable {
    public var file: String
    public var bytesRead: Int64
    /// Nil when reading a pipe.
    public var totalBytes: Int64?
    public var summary: IngestSummary
}

/// Streams files into the event log: decode on one thread, append on the caller's.
public final class Ingester {
    let log: EventLog
    let options: IngestOptions
    /// Called with each rejection as `FILE:LINE: field: why`.
    public var onReject: (String) -> Void = { _ in }
    public var onProgress: ((IngestProgress) -> Void)?

    public init(log: EventLog, options: IngestOptions) {
        self.log = log
        self.options = options
    }

    /// Ingests every file in order (`-` is standard input) and says what happened.
    public func ingest(_ paths: [String]) throws -> IngestSummary {
        let started = DispatchTime.now().uptimeNanoseconds
        var summary = IngestSummary()
        var shared: RejectsFile?
        if let path = options.rejectsPath { shared = RejectsFile(path: path) }
        // A bulk load: the log holds facts between batches and checkpoints beside this thread.
        try log.bulkLoad { load in
            for (index, path) in paths.enumerated() {
                let rejects = shared ?? RejectsFile(path: RejectsFile.defaultPath(for: path, format: options.format))
                try ingest(path, into: &summary, rejects: rejects, load: load, last: index == paths.count - 1)
                if rejects.count > 0, !summary.rejectsFiles.contains(rejects.path) { summary.rejectsFiles.append(rejects.path) }
                if shared == nil { try rejects.close() }
            }
        }
        try shared?.close()
        summary.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return summary
    }

    private func ingest(_ path: String, into summary: inout IngestSummary, rejects: RejectsFile, load: BulkLoad, last: Bool) throws {
        let name = path == "-" ? "stdin" : path
        // Two batches waiting: decoding now outpaces appending, so a deeper queue only held more
        // memory, at the same speed.
        let decoded = BatchQueue(capacity: 2)
        let producer = Producer(path: path, name: name, options: options, queue: decoded)
        let thread = Thread { producer.run() }
        thread.stackSize = 8 << 20
        thread.start()
        defer { decoded.cancel(); producer.finished.wait() }
        // Personal data is sealed on a thread of its own between the two: sealing costs more than
        // decoding, and done on the reading thread it left the writer waiting.
        let queue: BatchQueue
        var sealer: Sealer?
        if let vault = log.vault {
            queue = BatchQueue(capacity: 2)
            let stage = Sealer(vault: vault, input: decoded, output: queue)
            let sealing = Thread { stage.run() }
            sealing.stackSize = 8 << 20
            sealing.start()
            sealer = stage
        } else {
            queue = decoded
        }
        defer { if let sealer { queue.cancel(); decoded.cancel(); sealer.finished.wait() } }

        var fileLines = 0
        while true {
            // Waiting for the reader: the log may store what it holds meanwhile.
            if !queue.hasBatch { try load.writerIsIdle() }
            guard let batch = queue.take() else { break }
            if last, queue.isClosed { load.inputIsRead() }
            if let header = batch.header { rejects.header = header }
            let outcomes = try load.append(batch.events, recorded: options.now)
            var rejectedLines: [(line: Int, text: String, error: EventError)] = batch.rejected
            for (index, outcome) in outcomes.enumerated() {
                switch outcome {
                case .appended: summary.appended += 1
                case .duplicate: summary.duplicates += 1
                case .conflict(let position):
                    summary.conflicts += 1
                    let event = batch.events[index]
                    rejectedLines.append((batch.lines[index], event.jsonLine, EventError(
                        field: "id", reason: "conflict: '\(event.id)' is already in the log with different content (position \(position))")))
                }
            }
            rejectedLines.sort { $0.line < $1.line }
            for reject in rejectedLines {
                let message = "\(name):\(reject.line): \(reject.error)"
                try rejects.write(message: message, line: reject.text)
                onReject(message)
            }
            summary.rejected += rejectedLines.count
            fileLines = max(fileLines, batch.lastLine)
            queue.giveBack(batch)
            onProgress?(IngestProgress(file: name, bytesRead: batch.bytesRead, totalBytes: batch.totalBytes, summary: summary))
        }
        summary.lines += fileLines
        if let failure = producer.failure { throw failure }
        if let failure = sealer?.failure { throw failure }
    }
}

/// One decoded slice of a file.
struct Batch: Sendable {
    /// The events, as the log appends them, and the line each came from.
    var events: [EncodedEvent] = []
    var lines: [Int] = []
    var rejected: [(line: Int, text: String, error: EventError)] = []
    var header: String?
    var lastLine = 0
    var bytesRead: Int64 = 0
    var totalBytes: Int64?

    /// A batch with room for `capacity` lines: filled without growing (and copying) its arrays.
    init(capacity: Int = 0) {
        events.reserveCapacity(capacity)
        lines.reserveCapacity(capacity)
    }
}

/// Reads and decodes a file on its own thread, handing batches to the writer.
final class Producer: @unchecked Sendable {
    let path: String
    let name: String
    let options: IngestOptions
    let queue: BatchQueue
    /// Set before `finished` is signalled; read after.
    var failure: (any Error)?
    /// Lines in the batch being filled. Batches start small and double up to `batchSize`, so the
    /// writer starts after a thousand lines instead of a full batch: with full batches throughout,
    /// a small file was appended in a few steps that barely overlapped decoding.
    private var batchLimit: Int
    /// The file's size, when known, and the bytes of the lines read so far: the last batches shrink.
    private var total: Int64?
    private var consumed: Int64 = 0
    let finished = DispatchSemaphore(value: 0)

    init(path: String, name: String, options: IngestOptions, queue: BatchQueue) {
        self.path = path
        self.name = name
        self.options = options
        self.queue = queue
        batchLimit = min(1024, options.batchSize)
    }

    func run() {
        defer {
            queue.close()
            finished.signal()
        }
        do {
            var reader = try LineReader(path: path)
            let validator = EventValidator(now: options.now, isKnownTimeZone: options.isKnownTimeZone)
            var batch = Batch(capacity: batchLimit)
            let total = reader.size
            self.total = total
            switch options.format {
            case .ndjson:
                var decoder = NDJSONDecoder(validator: validator)
                try reader.forEachLine { number, line in
                    try self.add(decoder.decode(line, number: number), line, number, to: &batch)
                }
            case .transactions:
                var decoder = TransactionsDecoder(validator: validator, defaultCurrency: options.defaultCurrency)
                try reader.forEachLine { number, line in
                    if !decoder.hasHeader {
                        if isBlankOrComment(line) { return }
                        try decoder.readHeader(line, file: self.name, number: number)
                        batch.header = decoder.header
                        return
                    }
                    try self.add(decoder.decode(line, number: number), line, number, to: &batch)
                }
            }
            batch.bytesRead = reader.bytesRead
            batch.totalBytes = total
            if !queue.put(batch) { return }
        } catch {
            failure = error
        }
    }

    private func add(_ decoded: DecodedLine, _ line: UnsafeBufferPointer<UInt8>, _ number: Int, to batch: inout Batch) throws {
        batch.lastLine = number
        consumed += Int64(line.count + 1)
        switch decoded {
        case .skipped: return
        case .event(let event):
            batch.events.append(event)
            batch.lines.append(number)
        case .rejected(let error): batch.rejected.append((number, String(decoding: line, as: UTF8.self), error))
        }
        if batch.events.count + batch.rejected.count >= batchLimit {
            guard queue.put(batch) else { throw CancellationError() }
            queue.dropReturned()
            batchLimit = min(batchLimit * 2, options.batchSize)
            if let total, consumed > 0 {
                // Near the end, a quarter of the lines left at most: when reading ends, the writer
                // is not left alone with a whole batch to append, which nothing would overlap.
                let left = Double(total - consumed) / (Double(consumed) / Double(number))
                batchLimit = min(batchLimit, max(1024, Int(left / 4)))
            }
            batch = Batch(capacity: batchLimit)
        }
    }
}

/// Seals the personal data of each decoded batch (`PersonalDataVault.seal`) and hands it on: the
/// writer's own seal then only checks that it was done.
final class Sealer: @unchecked Sendable {
    let vault: PersonalDataVault
    let input: BatchQueue
    let output: BatchQueue
    /// Set before `finished` is signalled; read after.
    var failure: (any Error)?
    let finished = DispatchSemaphore(value: 0)

    init(vault: PersonalDataVault, input: BatchQueue, output: BatchQueue) {
        self.vault = vault
        self.input = input
        self.output = output
    }

    func run() {
        defer {
            output.close()
            finished.signal()
        }
        do {
            while var batch = input.take() {
                try vault.seal(&batch.events)
                guard output.put(batch) else { return }
                // What the writer is done with is freed here (the reader never sees it again).
                output.dropReturned()
            }
        } catch {
            failure = error
            input.cancel()
        }
    }
}

/// A bounded hand-off between the decoding thread and the writer.
final class BatchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Batch] = []
    private var closed = false
    private var cancelled = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Blocks while full; false when the writer gave up.
    func put(_ batch: Batch) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        items.append(batch)
        condition.broadcast()
        return true
    }

    /// Batches the writer is done with, for the reading thread to let go of: their memory is then
    /// freed by the thread that allocated it. Freed by the writer, it went back to the reader's
    /// malloc arena under its lock, against the reader's own allocations, which slowed both.
    private var returned: [Batch] = []

    /// The writer is done with `batch`.
    func giveBack(_ batch: Batch) {
        condition.lock()
        returned.append(batch)
        condition.unlock()
    }

    /// Frees, on the calling thread, the batches the writer is done with.
    func dropReturned() {
        condition.lock()
        let done = returned
        returned = []
        condition.unlock()
        withExtendedLifetime(done) {}  // the last reference: freed here
    }

    /// Whether the producer has put its last batch.
    var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }

    /// Whether `take` would return at once.
    var hasBatch: Bool {
        condition.lock()
        defer { condition.unlock() }
        return !items.isEmpty || closed || cancelled
    }

    /// Blocks while empty; nil once the producer closed and everything was taken.
    func take() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed && !cancelled { condition.wait() }
        if items.isEmpty || cancelled { return nil }
        let batch = items.removeFirst()
        condition.broadcast()
        return batch
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}
