#if canImport(CMalloc)
import CMalloc
#endif

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
    /// the process once freed. Called once, before the service's threads start.
    public static func configure() {
        #if canImport(CMalloc)
        _ = mallopt(M_MMAP_THRESHOLD, 128 * 1024)
        #endif
    }

    /// Returns the arenas' whole free pages to the system (the smaller blocks freed in between).
    public static func trim() {
        #if canImport(CMalloc)
        _ = malloc_trim(0)
        #endif
    }
}
