import AftersaleSQLite
import ServiceLifecycle

/// Trims the allocator every `intervalSeconds` until shutdown: a trim walks every arena, a few
/// milliseconds, so it runs on a timer rather than after each of the engine's steps.
///
/// Under a full-speed load the intake's merges and the read model's folds free large amounts every
/// few seconds, and those pages stay resident until the next trim, so a short interval gives them back
/// sooner. (Measured, with why a soak's readings every 30 s said little: tools/results/serve-load.md,
/// twenty-sixth session.)
struct MemoryTrimService: Service {
    var intervalSeconds: Double = 5

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(intervalSeconds)) } catch { return }
                ProcessMemory.trim()
            }
        }
    }
}
