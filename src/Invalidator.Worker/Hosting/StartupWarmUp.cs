using System.Diagnostics;
using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Invalidator.Worker.Hosting;

/// <summary>
/// Runs the per-change path once before the source opens, so the first real change does not pay for it: ReadyToRun
/// leaves generic code over the worker's own types (async state machines, Polly's pipeline, the batch's and the
/// tracker's collections) and every first call's binding to the JIT, about 600 methods and 100–150 ms on a fresh
/// worker's first change. A source runner of its own (<see cref="SourceRunner"/>: open batch, pipeline, tracker,
/// applier) reads synthetic records of a private rule set (Debezium envelopes with and without schemas, a delete, a
/// change as the direct source builds it) and deletes their reserved names (<see cref="KeyPrefix"/>, under a region's
/// key prefix) in every connected Redis region. It reports to nobody (no metric, status or dead letter counts it),
/// acknowledges nothing of the real source and never sets a value. Bounded by <see cref="Budget"/>; a failure is logged
/// and the start goes on.
/// </summary>
internal static class StartupWarmUp
{
    /// <summary>The reserved namespace of the warm-up's names: <c>invalidator:warmup:0</c> and the tag <c>invalidator:warmup</c>.</summary>
    public const string KeyPrefix = "invalidator:warmup:";

    /// <summary>How long the warm-up may take before the start goes on without it.</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(3);

    private const string SourceName = "warm-up";
    private const string Table = "invalidator_warmup.rows";
    private const string Topic = "invalidator-warmup.invalidator_warmup.rows";

    private static readonly string Rules =
        "tables:\n" +
        $"  {Table}:\n" +
        $"    keys: [\"{KeyPrefix}{{id}}\", \"{KeyPrefix}{{name}}\"]\n" +
        "    tags: [\"invalidator:warmup\"]\n";

    /// <summary>Warms the read, plan, batch and delete path; says how long it took, or why it did not finish.</summary>
    public static async Task RunAsync(RegionSet regions, BatchingOptions batching, ILogger logger, TimeProvider time, CancellationToken stoppingToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        budget.CancelAfter(Budget);
        try
        {
            await RunOnceAsync(regions, batching, time, budget.Token).ConfigureAwait(false);
            Log.WarmedUp(logger, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // Only the first change's speed depends on it: the worker starts all the same.
            Log.WarmUpFailed(logger, budget.IsCancellationRequested ? $"not done within {Budget.TotalSeconds:F0} s" : ex.Message);
        }
    }

    private static async Task RunOnceAsync(RegionSet regions, BatchingOptions batching, TimeProvider time, CancellationToken cancellationToken)
    {
        // Only Redis regions that are up: the other targets would tell the applications' caches, and a region that is
        // down would spend its retries (and its circuit breaker) on names nobody caches.
        var quiet = new RegionSet([.. regions.Regions.Where(r => r.Target == RegionTarget.Redis && r.Connection.IsConnected).Select(r => r.Unreported())]);
        var applier = new BatchApplier(quiet, null, [], WorkerEvents.None, NullLogger<BatchApplier>.Instance, time);
        var intake = new RecordIntake(RulesLoader.Parse(Rules, "(warm-up rules)"), WorkerEvents.None, NullLogger<RecordIntake>.Instance, time);
        using var runner = new SourceRunner(SourceName, intake, applier, batching, int.MaxValue, time, WorkerEvents.None);
        try
        {
            await runner.RunAsync(new SyntheticSource(runner, time), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await runner.StopAsync("warmed up").ConfigureAwait(false);
        }
    }

    /// <summary>The records a Debezium source sends, then a change as the direct source builds it, then the end.</summary>
    private sealed class SyntheticSource(SourceRunner runner, TimeProvider time) : IChangeSource
    {
        private static readonly byte[] Key = Encoding.UTF8.GetBytes("{\"id\":0}");
        private readonly byte[][] _values = [.. Values().Select(Encoding.UTF8.GetBytes)];
        private int _next;

        public ValueTask<SourceRead> ReadAsync(TimeSpan wait, Task wake, CancellationToken cancellationToken)
        {
            var position = _next++;
            if (position < _values.Length)
            {
                runner.Open.Plan(Topic, Key, _values[position]);
            }
            else if (position == _values.Length)
            {
                var row = new RowImage([new("id", ColumnValue.Of("0")), new("name", ColumnValue.Of("0"))]);
                runner.Open.Plan(SourceName, new ChangeEvent(Table, ChangeOperation.Update, row, row, null, time.GetUtcNow()));
            }
            else
            {
                return ValueTask.FromResult(SourceRead.End);
            }

            return ValueTask.FromResult(SourceRead.Record(new SourcePartition(SourceName, 0), position, position + 1, time.GetUtcNow(), null));
        }

        public void Acknowledge(AcknowledgedPosition position)
        {
            // Nothing to store: the warm-up's positions are its own.
        }

        private static IEnumerable<string> Values()
        {
            const string before = "{\"id\":0,\"name\":\"0\",\"note\":null}";
            const string after = "{\"id\":0,\"name\":\"0\",\"note\":\"warm\"}";
            const string source = "{\"version\":\"2.7.3.Final\",\"connector\":\"postgresql\",\"name\":\"invalidator-warmup\",\"ts_ms\":1700000000000," +
                "\"snapshot\":\"false\",\"db\":\"app\",\"ts_us\":1700000000000000,\"schema\":\"invalidator_warmup\",\"table\":\"rows\",\"txId\":1,\"lsn\":1}";
            var update = $"{{\"before\":{before},\"after\":{after},\"source\":{source},\"op\":\"u\",\"ts_ms\":1700000000001}}";
            var delete = $"{{\"before\":{before},\"after\":null,\"source\":{source},\"op\":\"d\",\"ts_ms\":1700000000001}}";
            const string schema = "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}," +
                "{\"type\":\"string\",\"optional\":true,\"field\":\"name\"},{\"type\":\"string\",\"optional\":true,\"field\":\"note\"}],\"optional\":true,\"field\":\"before\"}]," +
                "\"optional\":false,\"name\":\"invalidator-warmup.invalidator_warmup.rows.Envelope\"}";
            return [update, delete, $"{{\"schema\":{schema},\"payload\":{update}}}", update];
        }
    }
}
