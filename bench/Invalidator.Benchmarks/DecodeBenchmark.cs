using System.Diagnostics;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Invalidator.Benchmarks;

/// <summary>
/// DebeziumDecoder.Decode + InvalidationPlanner.Plan on one thread: records/s and bytes allocated per record
/// (GC.GetAllocatedBytesForCurrentThread), after a warm-up so tiered JIT has settled. One decoder (its schema and name
/// caches) serves the whole run, as one serves a worker's source loop.
/// </summary>
internal static class DecodeBenchmark
{
    private const string Name = "decode+plan";
    private const int Distinct = 10_000;

    public static void Run(Scale scale, ResultTable table)
    {
        Console.WriteLine("decode + plan ...");
        var rules = RulesLoader.Parse(BenchRecords.Rules, "bench-rules.yaml");
        var planner = new InvalidationPlanner(rules);
        // Decoded as the worker decodes: with the rules' hints (which tables have rules, their formats, decimals, identity).
        var hints = rules.DecoderHints;
        var decoder = new DebeziumDecoder();

        var fixtures = BenchRecords.Fixtures();

        var schemaless = Enumerable.Range(1, Distinct).Select(i => BenchRecords.Customer(i, withSchema: false)).ToArray();
        var schemaful = Enumerable.Range(1, Distinct).Select(i => BenchRecords.Customer(i, withSchema: true)).ToArray();

        // One warm-up over every kind of record first, so tiered JIT (and dynamic PGO) has promoted the
        // decoder before the first case is timed; each case then warms up again on its own records.
        Console.WriteLine("  warming up ...");
        Run([.. fixtures, .. schemaless.Take(100), .. schemaful.Take(100)], scale.DecodeWarmup * 4, record =>
        {
            if (decoder.Decode(record.Topic, record.Key, record.Value, hints).Change is { } change)
            {
                planner.Plan(change);
            }
        });
        if (fixtures.Count == 0)
        {
            Console.WriteLine("  shared/fixtures/debezium not found beside the checkout: fixture cases skipped");
        }
        else
        {
            Measure(table, $"all {fixtures.Count} fixtures, round robin", fixtures, decoder, planner, hints, scale);
            Measure(table, "fixture pg-update-full-before-schemaless", [BenchRecords.Fixture("pg-update-full-before-schemaless.json")], decoder, planner, hints, scale);
            Measure(table, "fixture pg-update-full-before-schema", [BenchRecords.Fixture("pg-update-full-before-schema.json")], decoder, planner, hints, scale);
        }

        Measure(table, $"generated customers update, schemaless ({Size(schemaless)})", schemaless, decoder, planner, hints, scale);
        Measure(table, $"generated customers update, with schema ({Size(schemaful)})", schemaful, decoder, planner, hints, scale);
        MeasureDecodeOnly(table, "  decode only, schemaless", schemaless, decoder, hints, scale);
        MeasureDecodeOnly(table, "  decode only, with schema", schemaful, decoder, hints, scale);
        MeasureWorkerPath(table, "worker path: RecordIntake.Add into 5000-record InvalidationBatch, with schema", schemaful, rules, scale);
    }

    private static void Measure(ResultTable table, string @case, IReadOnlyList<BenchRecord> records, DebeziumDecoder decoder, InvalidationPlanner planner, DecoderHints hints, Scale scale)
    {
        long names = 0;
        var (rate, bytes) = Loop(records, scale, record =>
        {
            var decoded = decoder.Decode(record.Topic, record.Key, record.Value, hints);
            if (decoded.Change is { } change)
            {
                var plan = planner.Plan(change);
                names += plan.Keys.Count + plan.Tags.Count;
            }
        });
        table.Add(Name, @case, rate, "records/s", $"{bytes:N0} B allocated/record");
        GC.KeepAlive(names);
    }

    private static void MeasureDecodeOnly(ResultTable table, string @case, IReadOnlyList<BenchRecord> records, DebeziumDecoder decoder, DecoderHints hints, Scale scale)
    {
        long changes = 0;
        var (rate, bytes) = Loop(records, scale, record =>
        {
            if (decoder.Decode(record.Topic, record.Key, record.Value, hints).Change is not null)
            {
                changes++;
            }
        });
        table.Add(Name, @case, rate, "records/s", $"{bytes:N0} B allocated/record");
        GC.KeepAlive(changes);
    }

    /// <summary>What the Kafka source does per record: decode, plan, count the outcome, merge into the batch's deduplicating sets.</summary>
    private static void MeasureWorkerPath(ResultTable table, string @case, IReadOnlyList<BenchRecord> records, RuleSet rules, Scale scale)
    {
        using var meters = new MeterFactoryScope();
        var recordPlanner = new RecordIntake(rules, meters.Events, NullLogger<RecordIntake>.Instance, TimeProvider.System);
        var batch = new InvalidationBatch();
        var (rate, bytes) = Loop(records, scale, record =>
        {
            recordPlanner.Add(record.Topic, record.Key, record.Value, batch);
            if (batch.PlanCount == 5000)
            {
                batch.Clear();
            }
        });
        table.Add(Name, @case, rate, "records/s", $"{bytes:N0} B allocated/record");
    }

    private static (double RecordsPerSecond, double BytesPerRecord) Loop(IReadOnlyList<BenchRecord> records, Scale scale, Action<BenchRecord> body)
    {
        Run(records, scale.DecodeWarmup, body);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var (count, elapsed) = Run(records, scale.DecodeDuration, body);
        var bytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)count;
        return (count / elapsed.TotalSeconds, bytes);
    }

    private static (long Count, TimeSpan Elapsed) Run(IReadOnlyList<BenchRecord> records, TimeSpan duration, Action<BenchRecord> body)
    {
        var clock = Stopwatch.StartNew();
        long count = 0;
        var index = 0;
        while (true)
        {
            // Check the clock every 256 records: reading it per record would be part of what is measured.
            for (var i = 0; i < 256; i++)
            {
                body(records[index]);
                index = index + 1 == records.Count ? 0 : index + 1;
            }

            count += 256;
            if (clock.Elapsed >= duration)
            {
                return (count, clock.Elapsed);
            }
        }
    }

    private static string Size(IReadOnlyList<BenchRecord> records) =>
        $"~{records.Average(r => r.Key.Length + r.Value.Length):N0} B";
}
