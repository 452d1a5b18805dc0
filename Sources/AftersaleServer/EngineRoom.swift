import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How much CPU the live engine could have had: the machine's idle time plus what the engine's own
/// thread used, in cores, over the time since the last reading. With `IntakeGroupMeter`, what the
/// engine reads to know whether the machine has room for its steps while the intake commits
/// (`LiveEngine.spareCoresToRun`). Its own time counts as spare: otherwise a running engine would
/// read the CPU it takes as a full machine and stop itself.
///
/// Read on the engine's thread only: its CPU clock is the calling thread's.
final class SpareCPUMeter {
    private var last: (wall: UInt64, idle: Double, own: Double)?
    private var spare: Double?
    /// The shortest time between two readings the answer is computed from; a reading sooner gets
    /// the previous answer.
    let windowNanoseconds: UInt64
    private let idleSeconds: () -> Double?
    private let ownSeconds: () -> Double
    private let uptime: () -> UInt64

    /// - Parameters: the machine's idle seconds, the calling thread's CPU seconds and the time
    ///   (nanoseconds) as they are read (tests pass their own).
    init(windowNanoseconds: UInt64 = 100_000_000, idleSeconds: @escaping () -> Double? = SpareCPUMeter.machineIdleSeconds,
         ownSeconds: @escaping () -> Double = SpareCPUMeter.threadCPUSeconds,
         uptime: @escaping () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) {
        self.windowNanoseconds = windowNanoseconds
        self.idleSeconds = idleSeconds
        self.ownSeconds = ownSeconds
        self.uptime = uptime
    }

    /// Cores' worth of CPU idle or the engine's since the last reading at least a window ago; nil
    /// before a first window has passed, or where the machine's idle time cannot be read.
    func read() -> Double? {
        guard let idle = idleSeconds() else { return nil }
        let now = uptime(), own = ownSeconds()
        guard let last else {
            self.last = (now, idle, own)
            return nil
        }
        if now &- last.wall >= windowNanoseconds {
            let wall = Double(now &- last.wall) / 1e9
            spare = max(0, (idle - last.idle) + (own - last.own)) / wall
            self.last = (now, idle, own)
        }
        return spare
    }

    /// Seconds the machine's CPUs have been idle (or waiting for the disk) since boot, summed over
    /// CPUs, from the first line of /proc/stat; nil elsewhere.
    static func machineIdleSeconds() -> Double? {
        #if os(Linux)
        guard let file = fopen("/proc/stat", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        let line = String(cString: buffer)
        // "cpu  user nice system idle iowait irq softirq steal ...", in clock ticks.
        let fields = line.split(separator: " ")
        guard fields.first == "cpu", fields.count > 5, let idle = Double(fields[4]), let iowait = Double(fields[5]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ticks > 0 ? (idle + iowait) / ticks : nil
        #else
        return nil
        #endif
    }

    /// CPU seconds the calling thread has used.
    static func threadCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// How many requests a commit of the intake took, on average, over the time since the last reading
/// at least a window ago: about one while requests come slower than the writer commits them, more
/// as they queue for it.
final class IntakeGroupMeter {
    private var last: (at: UInt64, commits: UInt64, requests: UInt64)?
    private var size: Double?
    let windowNanoseconds: UInt64
    private let totals: () -> (commits: UInt64, requests: UInt64)
    private let uptime: () -> UInt64

    init(windowNanoseconds: UInt64 = 100_000_000, uptime: @escaping () -> UInt64 = { DispatchTime.now().uptimeNanoseconds },
         totals: @escaping () -> (commits: UInt64, requests: UInt64)) {
        self.windowNanoseconds = windowNanoseconds
        self.uptime = uptime
        self.totals = totals
    }

    /// Requests a commit over the last window; 1 in a window with no commit (nothing queues), nil
    /// before a first window has passed.
    func read() -> Double? {
        let now = uptime(), (commits, requests) = totals()
        guard let last else {
            self.last = (now, commits, requests)
            return nil
        }
        if now &- last.at >= windowNanoseconds {
            size = commits > last.commits ? Double(requests &- last.requests) / Double(commits &- last.commits) : 1
            self.last = (now, commits, requests)
        }
        return size
    }
}
