internal import CSQLite
internal import Foundation

/// Copies committed WAL frames into the database file from a thread and connection of its own,
/// while one long writer (a bulk ingest, a rebuild) goes on committing.
///
/// In WAL mode every page is written twice: once into the WAL at commit, once into the database
/// at a checkpoint, and with `synchronous=NORMAL` the checkpoint is where the file syncs happen.
/// SQLite's automatic checkpoint runs inside the committing writer's own call, so the writer
/// stops while pages are copied and flushed. Here the writer's commit only notes how large the
/// WAL has grown (its WAL hook, which replaces the automatic checkpoint); once it holds
/// `threshold` frames, a PASSIVE checkpoint (which never takes the write lock and never waits)
/// runs on this thread while the writer goes on. Durability is unchanged: commits are as durable
/// as before, the checkpoint syncs the WAL before copying and the database after, as the
/// automatic one does.
///
/// The threshold matters when the same pages are written again and again (an index with random
/// keys): a checkpoint copies each page once however often it changed, so frequent checkpoints
/// copy hot pages many times over, and slowed a large ingest down. Too rare costs too: the WAL
/// outgrows what is cached, and the last checkpoint, which nothing overlaps, copies and syncs all
/// of it.
final class BackgroundCheckpointer: @unchecked Sendable {
    private let condition = NSCondition()
    private let threshold: Int32
    /// WAL length at which the writer checkpoints itself once this thread has copied nearly all
    /// of it (see `withBackgroundCheckpoints`).
    let writerCatchesUpAt: Int32
    /// WAL length at which the writer checkpoints itself however much is left to copy.
    let writerMustCatchUpAt: Int32
    /// The WAL's length and how much of it was copied, when a checkpoint last told.
    private var lastLog: Int32 = 0
    private var lastCopied: Int32 = 0
    /// How many times the writer did.
    private var writerCheckpoints = 0
    private var requested = false
    /// Set by `checkpointAfterEveryCommit`: every commit asks for a checkpoint, whatever the WAL's size.
    private var eager = false
    private var stopped = false
    private var finished = false
    /// How many times a checkpoint was asked for (requests not yet run coalesce into one run).
    private var asked = 0

    /// Starts a thread that checkpoints `path` whenever `walGrew` reports `threshold` frames.
    init(path: String, threshold: Int32, writerCatchesUpAt: Int32 = Int32.max, writerMustCatchUpAt: Int32? = nil) {
        self.threshold = threshold
        self.writerCatchesUpAt = writerCatchesUpAt
        self.writerMustCatchUpAt = writerMustCatchUpAt ?? (writerCatchesUpAt > Int32.max / 4 ? Int32.max : writerCatchesUpAt * 4)
        let thread = Thread { [self] in run(path: path) }
        thread.name = "aftersale-checkpointer"
        thread.start()
    }

    /// The writer's WAL now holds `frames` frames (called inside its commit: it only signals).
    func walGrew(to frames: Int32) {
        guard frames >= threshold || frames > 0 && eagerly else { return }
        condition.lock()
        requested = true
        asked += 1
        condition.broadcast()
        condition.unlock()
    }

    private var eagerly: Bool {
        condition.lock()
        defer { condition.unlock() }
        return eager
    }

    /// From now on every commit asks for a checkpoint, and one is asked for now.
    func checkpointAfterEveryCommit() {
        condition.lock()
        eager = true
        requested = true
        asked += 1
        condition.broadcast()
        condition.unlock()
    }

    private func run(path: String) {
        defer {
            condition.lock()
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        // A checkpoint that cannot run loses nothing: like SQLite's own automatic checkpoint, whose
        // failures never fail the commit, it is left to the next one (the writer's, after `stop`).
        guard let database = try? Database(path: path) else { return }
        while true {
            condition.lock()
            while !requested, !stopped { condition.wait() }
            let stop = stopped
            requested = false
            condition.unlock()
            if stop { return }
            checkpoint(database.handle)
        }
    }

    /// A passive checkpoint on `handle` (this thread's connection, or the writer's), noting how much
    /// of the WAL it left copied.
    func checkpoint(_ handle: OpaquePointer?) {
        var (log, copied): (Int32, Int32) = (0, 0)
        guard sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) == SQLITE_OK else { return }
        noteCheckpoint(log: log, copied: copied)
    }

    /// A checkpoint found the WAL `log` frames long and left `copied` of them copied.
    func noteCheckpoint(log: Int32, copied: Int32) {
        condition.lock()
        (lastLog, lastCopied) = (log, copied)
        condition.unlock()
    }

    /// Whether the writer, whose commit left the WAL `frames` long, checkpoints it itself now.
    ///
    /// Only the writer's own checkpoint, run between its commits, can copy the whole WAL, so that
    /// the next commit starts it over. But copying is the writer's time, on the one thread a long
    /// write waits for: it catches up when this thread has left it little to copy (a quarter of
    /// `writerCatchesUpAt` at most), and whatever is left once the WAL reaches `writerMustCatchUpAt`.
    /// After a large transaction (a bulk load's merge of held facts writes tens of thousands of
    /// frames) this thread copies them while the writer goes on.
    func writerShouldCatchUp(frames: Int32) -> Bool {
        guard frames >= writerCatchesUpAt else { return false }
        if frames >= writerMustCatchUpAt { return true }
        condition.lock()
        let (log, copied) = (lastLog, lastCopied)
        condition.unlock()
        // A WAL shorter than the last checkpoint saw has started over since: its count says nothing.
        let left = log <= frames ? frames - copied : frames
        return left <= max(1, writerCatchesUpAt / 4)
    }

    func noteWriterCheckpoint() {
        condition.lock()
        writerCheckpoints += 1
        condition.unlock()
    }

    /// How many times the writer checkpointed itself.
    var writerCheckpointsRun: Int {
        condition.lock()
        defer { condition.unlock() }
        return writerCheckpoints
    }

    /// How many times a checkpoint was asked for so far: a checkpoint runs only when asked, so
    /// tests can tell "not asked" at once instead of waiting to see that none ran.
    var checkpointsAsked: Int {
        condition.lock()
        defer { condition.unlock() }
        return asked
    }

    /// Stops and waits for the thread.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }
}

extension Database {
    /// Runs `body`, a long run of writes on this connection, with WAL checkpoints moved to a
    /// background thread (see `BackgroundCheckpointer`): one runs whenever the WAL holds
    /// `frames` frames (SQLite's own default is 1,000). The connection's automatic checkpoint
    /// interval is restored afterwards, and the next commit checkpoints what is left.
    ///
    /// `writerCatchesUpAt`: when a commit leaves the WAL this many frames long, the writer itself
    /// runs a passive checkpoint before going on. The background one copies only the frames committed
    /// when it started, and a writer that never stops keeps adding more, so the WAL is never wholly
    /// copied and SQLite never starts it over: it grew to 5.6 GB in a million-customer ingest, and
    /// every page went to the disk twice through a file that only grew. Caught up now and then,
    /// the WAL starts over and its pages are reused (the results in tools/results). It does so when
    /// the background thread has left it little to copy, or, whatever is left, at
    /// `writerMustCatchUpAt` frames (4 times `writerCatchesUpAt` unless given), which bounds the WAL.
    /// A passive checkpoint never waits for a reader: one that holds old frames only makes it copy less.
    public func withBackgroundCheckpoints<T>(everyFrames frames: Int32 = 1000, writerCatchesUpAt catchUp: Int32? = nil,
                                             writerMustCatchUpAt mustCatchUp: Int32? = nil,
                                             _ body: () throws -> T) throws -> T {
        let previous = try scalarInt("PRAGMA wal_autocheckpoint") ?? 1000
        let checkpointer = BackgroundCheckpointer(path: path, threshold: frames, writerCatchesUpAt: catchUp ?? Int32.max,
                                                  writerMustCatchUpAt: mustCatchUp)
        let outer = backgroundCheckpointer
        backgroundCheckpointer = checkpointer
        defer { backgroundCheckpointer = outer }
        let context = Unmanaged.passUnretained(checkpointer).toOpaque()
        sqlite3_wal_hook(handle, { context, db, _, frames in
            let checkpointer = Unmanaged<BackgroundCheckpointer>.fromOpaque(context!).takeUnretainedValue()
            checkpointer.walGrew(to: frames)
            // As SQLite's own automatic checkpoint does from this hook; a failure (busy) is left to
            // the next commit and loses nothing.
            if checkpointer.writerShouldCatchUp(frames: frames) {
                checkpointer.noteWriterCheckpoint()
                checkpointer.checkpoint(db)
            }
            return SQLITE_OK
        }, context)
        defer {
            // Setting the interval puts SQLite's own hook back in place of ours.
            try? execute("PRAGMA wal_autocheckpoint=\(previous)")
            withExtendedLifetime(checkpointer) {}
        }
        defer { checkpointer.stop() }
        return try body()
    }

    /// Inside `withBackgroundCheckpoints`: from now until its end, the background thread
    /// checkpoints after every commit instead of every `frames` frames, starting now with what is
    /// already committed. For the end of a long write, once the writer is the only thread left
    /// working: the other core would otherwise idle while the WAL grows, and the last checkpoint,
    /// which nothing overlaps, would copy and sync all of it. Outside, it does nothing.
    public func checkpointAfterEveryCommit() {
        backgroundCheckpointer?.checkpointAfterEveryCommit()
    }
}
