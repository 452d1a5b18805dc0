#if canImport(CMalloc)
import CMalloc
#endif
internal import Foundation

/// The allocator of a process that runs for months, or of a run that frees gigabytes as it goes:
/// what it frees goes back to the system. (Here because every long-running part allocates through
/// it, SQLite's connections included, and every one of them depends on this module.)
///
/// Measured in ten-minute soaks (tools/results/serve-load.md): with glibc's defaults the resident
/// size grew in steps while the heap in use did not; what grew was the allocator's free memory.
public enum ProcessMemory {
    /// Blocks of 128 KiB and more are mapped on their own, and unmapped when freed. glibc's default
    /// threshold rises each time such a block is freed (up to 32 MiB), after which the large arrays of
    /// the engine's steps and the intake's groups came from the arenas, and their pages stayed with
    /// the process once freed.
    ///
    /// At most two arenas per core (glibc's default is eight per core), unless `MALLOC_ARENA_MAX` in
    /// the environment says otherwise. The service's many threads (the HTTP event loops, the
    /// intake's stages, the engine, the task pool) each took an arena of their own, and in a
    /// ten-minute soak the allocator's free memory stayed resident beside the heap in use, trims or
    /// not: the resident size rose through the run while the heap in use did not. With two or four
    /// arenas on two cores it followed the heap in use in four of five such soaks, though not in a
    /// twenty-minute one (tools/results/serve-load.md, twenty-sixth session): fewer arenas make it
    /// less likely that a page of freed blocks keeps a live one, not impossible. Two a core, so that
    /// fewer threads share each arena's lock. Called once, before the service's threads start.
    public static func configure() {
        #if canImport(CMalloc)
        _ = mallopt(M_MMAP_THRESHOLD, 128 * 1024)
        if ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil {
            _ = mallopt(M_ARENA_MAX, Int32(clamping: 2 * max(1, ProcessInfo.processInfo.activeProcessorCount)))
        }
        #endif
    }

    /// Returns the arenas' whole free pages to the system (the smaller blocks freed in between).
    public static func trim() {
        #if canImport(CMalloc)
        _ = malloc_trim(0)
        #endif
    }
}
