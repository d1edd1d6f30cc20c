using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.KafkaMock;
using Microsoft.Extensions.DependencyInjection;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// The worker, or a baseline consumer, in a process of its own (this benchmark's binary in <c>worker-child</c> or
/// <c>consume-child</c> mode), so that its CPU time is its own: the mock broker stays in the benchmark's process, the
/// redis-servers in theirs. The child gets this process's environment, plus <c>INVALIDATOR_BENCH_CHILD_ENV</c>
/// (<c>K=V;K=V</c>, e.g. <c>DOTNET_gcServer=0</c>) for the children alone.
/// </summary>
internal static class ChildProcesses
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    /// <summary>
    /// Drains with the real worker host in a child process (rules and settings.json in <paramref name="directory"/>) until
    /// the group's committed offsets reach <paramref name="endOffsets"/>; its report, and when the commits reached the end.
    /// <c>INVALIDATOR_BENCH_TRACE=&lt;file.nettrace&gt;</c> runs it under <c>dotnet-trace</c>.
    /// </summary>
    public static async Task<(WorkerChildReport Report, DateTimeOffset? CommittedAt)> RunWorkerAsync(
        KafkaMockCluster kafka, string directory, IReadOnlyDictionary<string, string?> settings, string groupId,
        IReadOnlyDictionary<TopicPartition, long> endOffsets, int expected, TimeSpan limit)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, "settings.json"), JsonSerializer.Serialize(settings, Json)).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(directory, "expected"), expected.ToString(System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
        var trace = Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_TRACE");
        using var child = Start("worker-child", directory, trace);
        var committed = await Task.Run(() => KafkaBench.WaitForCommittedEnd(kafka, groupId, endOffsets, limit)).ConfigureAwait(false);
        DateTimeOffset? committedAt = committed is null ? null : DateTimeOffset.UtcNow;
        await File.WriteAllTextAsync(Path.Combine(directory, "stop"), "").ConfigureAwait(false); // the child reports and stops
        await WaitAsync(child).ConfigureAwait(false);
        var path = Path.Combine(directory, "report.json");
        var report = File.Exists(path)
            ? JsonSerializer.Deserialize<WorkerChildReport>(await File.ReadAllTextAsync(path).ConfigureAwait(false))!
            : throw new InvalidOperationException($"the worker process wrote no report (exit code {child.ExitCode})");
        return (report, committedAt);
    }

    /// <summary>A plain consumer in a child process reads <paramref name="count"/> records of the topics (with one Utf8JsonReader pass over each value when <paramref name="parse"/>).</summary>
    public static async Task<ConsumeChildReport> ConsumeAsync(KafkaMockCluster kafka, IReadOnlyList<string> topics, int count, bool parse)
    {
        var directory = Directory.CreateTempSubdirectory("invalidator-bench-consume-").FullName;
        try
        {
            var request = new ConsumeChildRequest(kafka.BootstrapServers, [.. topics], count, parse);
            await File.WriteAllTextAsync(Path.Combine(directory, "request.json"), JsonSerializer.Serialize(request, Json)).ConfigureAwait(false);
            using var child = Start("consume-child", directory, trace: null);
            await WaitAsync(child).ConfigureAwait(false);
            var path = Path.Combine(directory, "report.json");
            return File.Exists(path)
                ? JsonSerializer.Deserialize<ConsumeChildReport>(await File.ReadAllTextAsync(path).ConfigureAwait(false))!
                : throw new InvalidOperationException($"the consumer process wrote no report (exit code {child.ExitCode})");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static Process Start(string mode, string directory, string? trace)
    {
        var start = new ProcessStartInfo(trace is null ? "dotnet" : Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_DOTNET_TRACE") ?? "dotnet-trace") { UseShellExecute = false };
        if (trace is not null)
        {
            foreach (var argument in new[] { "collect", "--profile", "dotnet-sampled-thread-time", "-o", trace, "--", "dotnet" })
            {
                start.ArgumentList.Add(argument);
            }
        }

        start.ArgumentList.Add(typeof(ChildProcesses).Assembly.Location);
        start.ArgumentList.Add(mode);
        start.ArgumentList.Add(directory);
        AddChildEnvironment(start);
        return Process.Start(start) ?? throw new InvalidOperationException($"could not start the {mode} process");
    }

    /// <summary>Adds <c>INVALIDATOR_BENCH_CHILD_ENV</c> (<c>K=V;K=V</c>) to a worker child's environment: runtime knobs tried on the worker alone.</summary>
    internal static void AddChildEnvironment(ProcessStartInfo start)
    {
        foreach (var pair in (Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_CHILD_ENV") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                start.Environment[pair[..eq]] = pair[(eq + 1)..];
            }
        }
    }

    private static async Task WaitAsync(Process child)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await child.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            throw new InvalidOperationException("the child process did not stop within 120 s");
        }
    }

    /// <summary>
    /// <c>worker-child DIR</c>: the real worker host with DIR/settings.json, until the file DIR/stop appears; then writes
    /// DIR/report.json (<see cref="WorkerChildReport"/>) and stops. Its CPU time (all threads) and allocation are counted
    /// from its first consumed record (the <c>invalidator_records</c> counter) until the stop file is seen, which the
    /// benchmark writes once the group's commits reached the end (the 20 ms poll is inside the window: an idle worker).
    /// </summary>
    public static async Task<int> RunWorkerChildAsync(string directory)
    {
        var settings = JsonSerializer.Deserialize<Dictionary<string, string?>>(await File.ReadAllTextAsync(Path.Combine(directory, "settings.json")).ConfigureAwait(false))!;
        var expectedPath = Path.Combine(directory, "expected");
        var expected = File.Exists(expectedPath) ? int.Parse(await File.ReadAllTextAsync(expectedPath).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) : int.MaxValue;
        var applied = new AppliedListener(expected);
        using var host = WorkerHost.Build(directory, settings, [applied]);
        long allocatedAtFirst = 0;
        var cpuAtFirst = TimeSpan.Zero;
        var jitAtFirst = TimeSpan.Zero;
        long jitMethodsAtFirst = 0;
        var pausedAtFirst = TimeSpan.Zero;
        var firstAt = DateTimeOffset.MinValue;
        int gen0 = 0, gen1 = 0, gen2 = 0;
        using var counters = new WorkerCounters(host.Services.GetRequiredService<IMeterFactory>(), () =>
        {
            firstAt = DateTimeOffset.UtcNow;
            allocatedAtFirst = GC.GetTotalAllocatedBytes(precise: false);
            cpuAtFirst = Process.GetCurrentProcess().TotalProcessorTime;
            jitAtFirst = System.Runtime.JitInfo.GetCompilationTime();
            jitMethodsAtFirst = System.Runtime.JitInfo.GetCompiledMethodCount();
            pausedAtFirst = GC.GetTotalPauseDuration();
            (gen0, gen1, gen2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        });
        var started = Process.GetCurrentProcess().StartTime.ToUniversalTime();
        await host.StartAsync().ConfigureAwait(false);
        while (!File.Exists(Path.Combine(directory, "stop")))
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var jit = System.Runtime.JitInfo.GetCompilationTime() - jitAtFirst;
        var jitMethods = System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethodsAtFirst;
        var paused = GC.GetTotalPauseDuration() - pausedAtFirst;
        var report = new WorkerChildReport(
            counters.Records,
            GC.GetTotalAllocatedBytes(precise: true) - allocatedAtFirst,
            PeakRssKb(),
            GC.CollectionCount(0) - gen0,
            GC.CollectionCount(1) - gen1,
            GC.CollectionCount(2) - gen2,
            GC.GetTotalMemory(false),
            (cpu - cpuAtFirst).TotalSeconds,
            cpuAtFirst.TotalSeconds,
            firstAt,
            started,
            counters.KeysDeleted,
            counters.KeysFound,
            applied.Batches)
        {
            JitSeconds = jit.TotalSeconds,
            JitMethods = jitMethods,
            GcPauseSeconds = paused.TotalSeconds,
        };
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await host.StopAsync(timeout.Token).ConfigureAwait(false);
        }

        await File.WriteAllTextAsync(Path.Combine(directory, "report.json"), JsonSerializer.Serialize(report, Json)).ConfigureAwait(false);
        return 0;
    }

    /// <summary><c>consume-child DIR</c>: <see cref="Baselines.Consume"/> from DIR/request.json, its CPU time from the first record to the last in DIR/report.json.</summary>
    public static async Task<int> RunConsumeChildAsync(string directory)
    {
        var request = JsonSerializer.Deserialize<ConsumeChildRequest>(await File.ReadAllTextAsync(Path.Combine(directory, "request.json")).ConfigureAwait(false))!;
        var (seconds, cpuSeconds) = Baselines.Consume(request.BootstrapServers, request.Topics, request.Count, request.Parse);
        await File.WriteAllTextAsync(Path.Combine(directory, "report.json"), JsonSerializer.Serialize(new ConsumeChildReport(request.Count, seconds, cpuSeconds), Json)).ConfigureAwait(false);
        return 0;
    }

    private static long PeakRssKb()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>What a worker child process measured, from its first consumed record until it was told the backlog was committed.</summary>
internal sealed record WorkerChildReport(
    long Records, long AllocatedBytes, long PeakRssKb, int Gen0, int Gen1, int Gen2, long HeapBytes, double CpuSeconds, double CpuSecondsBeforeFirst,
    DateTimeOffset FirstRecordAt, DateTimeOffset ProcessStartedAt, long KeysDeleted, long KeysFound, int Batches)
{
    /// <summary>Time the JIT spent compiling in the window (all threads; <c>JitInfo.GetCompilationTime</c>), and the methods it compiled.</summary>
    public double JitSeconds { get; init; }

    public long JitMethods { get; init; }

    /// <summary>Time the runtime was paused for garbage collections in the window.</summary>
    public double GcPauseSeconds { get; init; }
}

internal sealed record ConsumeChildRequest(string BootstrapServers, string[] Topics, int Count, bool Parse);

/// <summary>A baseline consumer's seconds and CPU seconds (its whole process, all threads) from its first record to its last.</summary>
internal sealed record ConsumeChildReport(int Records, double Seconds, double CpuSeconds);
