namespace Invalidator.Worker.Processing;

/// <summary>
/// The thread pool's minimum of worker threads, raised for a source loop that blocks one of them: Kafka's
/// <c>Consume</c> holds its thread inside librdkafka for up to the loop's poll (250 ms when idle). The pool's minimum is
/// the processor count, so on a 2-core machine the rest of the worker (region applies, Redis completions, timers,
/// the HTTP listener) was left one thread, and the pool adds threads beyond its minimum only after it has seen them
/// starve, about one per half second: applies waited 100-800 ms whenever work queued up behind that thread (bench
/// `perf --only latency` on a busy machine, bench/README.md). Threads up to the minimum are created at once when work
/// waits, and only then.
/// </summary>
internal static class ThreadPoolFloor
{
    /// <summary>Threads a blocked source loop and its neighbours may hold beyond the processors' share.</summary>
    internal const int BlockedThreads = 4;

    /// <summary>The minimum the worker asks for: the processors, plus <see cref="BlockedThreads"/>.</summary>
    public static int WorkerThreads => Environment.ProcessorCount + BlockedThreads;

    /// <summary>Raises the pool's minimum of worker threads to <see cref="WorkerThreads"/>; never lowers it (a deployment's own setting wins).</summary>
    public static void Raise()
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        if (workers < WorkerThreads)
        {
            ThreadPool.SetMinThreads(WorkerThreads, completionPorts);
        }
    }
}
