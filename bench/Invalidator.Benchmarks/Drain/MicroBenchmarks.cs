using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// Decode + plan with BenchmarkDotNet (memory diagnoser on), schemaless and with schemas, over 4,096 distinct
/// customer updates of the drain (3 keys each): the library calls (<c>DebeziumDecoder.Decode</c> then
/// <c>InvalidationPlanner.Plan</c>), and the Kafka source's per-record step (<c>RecordIntake.Add</c> into a
/// batch that is emptied every 5,000 records, as the worker's batches are).
/// </summary>
[MemoryDiagnoser]
public class DecodePlanBenchmarks
{
    public const int RecordsPerLoop = 4096;
    private const int Records = RecordsPerLoop;
    private DrainRecord[] _records = [];
    private string _topic = "";
    private RuleSet _rules = null!;
    private InvalidationPlanner _planner = null!;
    private RecordIntake _recordPlanner = null!;
    private readonly DebeziumDecoder _decoder = new();
    private InvalidationBatch _batch = null!;
    private MeterFactoryScope _meters = null!;

    [Params(false, true)]
    public bool WithSchema { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _records = [.. Enumerable.Range(0, Records).Select(i => DrainRecords.Create(i, DrainMix.ThreeKeys, WithSchema))];
        _topic = DrainRecords.Topic("dbserver1", "customers");
        _rules = RulesLoader.Parse(DrainRecords.Rules, "bench-rules.yaml");
        _planner = new InvalidationPlanner(_rules);
        _meters = new MeterFactoryScope();
        _recordPlanner = new RecordIntake(_rules, _meters.Events, NullLogger<RecordIntake>.Instance, TimeProvider.System);
        _batch = new InvalidationBatch();
    }

    [GlobalCleanup]
    public void Cleanup() => _meters.Dispose();

    [Benchmark(OperationsPerInvoke = Records)]
    public int DecodeThenPlan()
    {
        var names = 0;
        var hints = _rules.DecoderHints;
        foreach (var record in _records)
        {
            if (_decoder.Decode(_topic, record.Key, record.Value, hints).Change is { } change)
            {
                names += _planner.Plan(change).Keys.Count;
            }
        }

        return names;
    }

    [Benchmark(OperationsPerInvoke = Records)]
    public int WorkerPath()
    {
        foreach (var record in _records)
        {
            _recordPlanner.Add(_topic, record.Key, record.Value, _batch);
            if (_batch.PlanCount >= 5000)
            {
                _batch.Clear();
            }
        }

        return _batch.Keys.Count;
    }
}

/// <summary>Runs <see cref="DecodePlanBenchmarks"/> in this process and adds its figures to the report.</summary>
internal static class MicroBenchmarks
{
    private const string Part = "decode+plan";

    public static void Run(Scale scale, PerfReport report)
    {
        Console.WriteLine("micro: BenchmarkDotNet, decode + plan ...");
        var job = (scale.IsQuick ? Job.Dry : Job.Default.WithWarmupCount(4).WithIterationCount(12).WithLaunchCount(1))
            .WithToolchain(InProcessEmitToolchain.Instance);
        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddLogger(ConsoleLogger.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "invalidator-benchmarkdotnet"))
            .WithOptions(ConfigOptions.DisableLogFile);
        var summary = BenchmarkRunner.Run<DecodePlanBenchmarks>(config);
        foreach (var result in summary.Reports)
        {
            Add(report, result);
        }

        // The same loops timed by the thread's CPU clock: what the records cost while other processes share the cores.
        foreach (var withSchema in new[] { false, true })
        {
            var benchmarks = new DecodePlanBenchmarks { WithSchema = withSchema };
            benchmarks.Setup();
            try
            {
                foreach (var (name, body) in new (string, Func<int>)[] { ("DebeziumDecoder.Decode + InvalidationPlanner.Plan", benchmarks.DecodeThenPlan), ("worker path", benchmarks.WorkerPath) })
                {
                    var nanoseconds = CpuPerRecord(body, scale);
                    report.Add(Part, $"{name}, {(withSchema ? "with schema" : "schemaless")}, thread CPU time", nanoseconds / 1000, "µs/record",
                        "the same loop, timed by CLOCK_THREAD_CPUTIME_ID over 2 s after a warm-up");
                }
            }
            finally
            {
                benchmarks.Cleanup();
            }
        }
    }

    private static double CpuPerRecord(Func<int> loop, Scale scale)
    {
        if (!ThreadCpu.IsAvailable)
        {
            return double.NaN;
        }

        var warmUp = System.Diagnostics.Stopwatch.StartNew();
        while (warmUp.Elapsed < scale.DecodeWarmup)
        {
            loop();
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var start = ThreadCpu.Nanoseconds();
        long loops = 0;
        while (clock.Elapsed < scale.DecodeDuration)
        {
            loop();
            loops++;
        }

        return (ThreadCpu.Nanoseconds() - start) / (double)(loops * DecodePlanBenchmarks.RecordsPerLoop);
    }

    private static void Add(PerfReport report, BenchmarkReport result)
    {
        var method = result.BenchmarkCase.Descriptor.WorkloadMethod.Name;
        var withSchema = result.BenchmarkCase.Parameters.Items.Any(p => p.Name == nameof(DecodePlanBenchmarks.WithSchema) && p.Value is true);
        var name = method == nameof(DecodePlanBenchmarks.WorkerPath) ? "worker path (RecordIntake.Add into the batch)" : "DebeziumDecoder.Decode + InvalidationPlanner.Plan";
        var nanoseconds = result.ResultStatistics?.Mean ?? double.NaN;
        var allocated = result.GcStats.GetBytesAllocatedPerOperation(result.BenchmarkCase);
        report.Add(Part, $"**{name}, {(withSchema ? "with schema" : "schemaless")}**", nanoseconds / 1000, "µs/record",
            $"{allocated:N0} B allocated/record (BenchmarkDotNet memory diagnoser); ±{(result.ResultStatistics?.StandardError ?? 0) / 1000:F3} µs standard error; 3 keys a record");
    }
}
