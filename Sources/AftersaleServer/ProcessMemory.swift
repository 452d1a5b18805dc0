import AftersaleSQLite
import ServiceLifecycle

/// Trims the allocator every `intervalSeconds` until shutdown: a trim walks every arena, a few
/// milliseconds, so it runs on a timer rather than after each of the engine's steps.
///
/// Under a full-speed load the intake's merges and the read model's folds free 100-150 MiB every few
/// seconds, and those pages stay resident until the next trim: watched every second in a soak, the
/// resident size fell to about 165 MiB at each trim and climbed back to 310-360 MiB within ten seconds.
/// Every 30 s, a reading of the resident size landed anywhere in that swing, the same part of it for
/// a whole run (tools/results/serve-load.md, twenty-sixth session). Every 5 s the free pages go back
/// sooner.
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
