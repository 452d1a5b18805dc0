import Foundation

/// A thread of the service's own that works when woken (`wake`: something was committed) or when
/// its interval has passed (the clock alone brings work due), until stopped; a stop lets the run
/// under way finish. The live engine and the delivery service each run on one.
final class ServiceThread: @unchecked Sendable {
    private let name: String
    private let interval: Double
    private let condition = NSCondition()
    private var pendingWork = true
    private var stopping = false
    private var started = false
    private let done = DispatchSemaphore(value: 0)
    /// The thread's nice value (Linux: per thread), 0 to keep the process's.
    private let niceness: Int32

    init(name: String, intervalSeconds: Double, niceness: Int32 = 0) {
        self.name = name
        self.interval = intervalSeconds
        self.niceness = niceness
    }

    /// Starts the thread with `body`, which loops on `nextRun()`.
    func start(_ body: @escaping @Sendable () -> Void) {
        condition.withLock { started = true }
        let thread = Thread { [done, niceness] in
            if niceness != 0 { ServiceThread.setNiceness(niceness) }
            body()
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Something may be due: run soon.
    func wake() {
        condition.withLock {
            pendingWork = true
            condition.signal()
        }
    }

    /// Blocks until woken or the interval has passed; false once stopping. The first call returns
    /// at once: a start has work (catching up with what the file holds).
    func nextRun() -> Bool {
        condition.withLock {
            if !pendingWork && !stopping { _ = condition.wait(until: Date(timeIntervalSinceNow: interval)) }
            if stopping { return false }
            pendingWork = false
            return true
        }
    }

    /// Waits `seconds`, or less if stopped meanwhile.
    func pause(_ seconds: Double) {
        condition.withLock {
            let until = Date(timeIntervalSinceNow: seconds)
            while !stopping && Date() < until { _ = condition.wait(until: until) }
        }
    }

    /// Lowers the calling thread's priority: on Linux a thread is a task of its own with its own
    /// nice value. Elsewhere, nothing.
    static func setNiceness(_ value: Int32) {
        #if os(Linux)
        // The thread's id, as `gettid()` gives it (not exported to Swift): /proc/thread-self is a link to "PID/task/TID".
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"),
              let id = link.split(separator: "/").last.flatMap({ id_t($0) }) else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id, value)
        #endif
    }

    var isStopping: Bool { condition.withLock { stopping } }

    /// Lets the run under way finish, then ends the thread (at once if it never started).
    func stop() {
        let wasRunning = condition.withLock {
            let running = started && !stopping
            stopping = true
            condition.signal()
            return running
        }
        if wasRunning { done.wait() }
    }
}
