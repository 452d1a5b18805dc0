#if canImport(CMalloc)
import CMalloc
#endif
import ServiceLifecycle

/// The allocator of a process that runs for months: what it frees goes back to the system.
///
/// Measured in ten-minute soaks (tools/results/serve-load.md): with glibc's defaults the resident
/// size grew in steps while the heap in use did not; what grew was the allocator's free memory.
enum ProcessMemory {
    /// Blocks of 128 KiB and more are mapped on their own, and unmapped when freed. glibc's default
    /// threshold rises each time such a block is freed (up to 32 MiB), after which the large arrays of
    /// the engine's steps and the intake's groups came from the arenas, and their pages stayed with
    /// the process once freed. Called once, before the service's threads start.
    static func configure() {
        #if canImport(CMalloc)
        _ = mallopt(M_MMAP_THRESHOLD, 128 * 1024)
        #endif
    }

    /// Returns the arenas' whole free pages to the system (the smaller blocks freed in between).
    static func trim() {
        #if canImport(CMalloc)
        _ = malloc_trim(0)
        #endif
    }
}

/// Trims the allocator every `intervalSeconds` until shutdown: a trim walks every arena, a few
/// milliseconds, so it runs on a timer rather than after each of the engine's steps.
struct MemoryTrimService: Service {
    var intervalSeconds: Double = 30

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(intervalSeconds)) } catch { return }
                ProcessMemory.trim()
            }
        }
    }
}
