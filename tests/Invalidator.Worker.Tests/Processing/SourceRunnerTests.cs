using System.Text;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;
using Invalidator.Worker.RulesReload;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Invalidator.Worker.Tests.Processing;

/// <summary>
/// The one source loop driven by an in-memory source: records planned into its batch, batches applied through the
/// real pipeline (no regions: a delete is done at once, unless a test holds it), and what reaches the source's
/// acknowledgement: only what the tracker decided, on the loop.
/// </summary>
public sealed class SourceRunnerTests : IDisposable
{
    private const string Topic = "srv.public.t";
    private static readonly SourcePartition P0 = new(Topic, 0);
    private static readonly SourcePartition P1 = new(Topic, 1);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly string _directory = Directory.CreateTempSubdirectory("source-runner-").FullName;
    private readonly WorkerEvents _events;
    private readonly RecordIntake _planner;
    private readonly Listener _listener = new();

    public SourceRunnerTests()
    {
        var path = Path.Combine(_directory, "rules.yaml");
        File.WriteAllText(path, "tables:\n  public.t:\n    keys: [\"t:{id}\"]\n");
        _events = new WorkerEvents([new InvalidatorMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>())]);
        _planner = new RecordIntake(
            LiveRules.Fixed(LoadedRules.Load(path, DateTimeOffset.UtcNow).Rules), WorkerMode.Live, _events, NullLogger<RecordIntake>.Instance, TimeProvider.System);
    }

    public void Dispose()
    {
        _listener.Release();
        _services.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private SourceRunner NewRunner(bool dryRun = false) =>
        new("test", _planner, dryRun ? null : new BatchApplier(new RegionSet([]), null, [_listener], _events, NullLogger<BatchApplier>.Instance, TimeProvider.System),
            new BatchingOptions { MaxRecords = 4, MaxWait = TimeSpan.FromMinutes(1), MaxInFlight = 2 }, int.MaxValue, TimeProvider.System);

    /// <summary>A Debezium record of row <paramref name="id"/> (<paramref name="value"/> instead, when given), planned into the runner's batch.</summary>
    private static Func<SourceRead> Record(SourceRunner runner, SourcePartition partition, long offset, int id, string? value = null) => () =>
    {
        var bytes = Encoding.UTF8.GetBytes(value ?? "{\"op\":\"c\",\"after\":{\"id\":" + id + "},\"source\":{\"schema\":\"public\",\"table\":\"t\"}}");
        var planned = runner.Open.Plan(partition.Source, [], bytes);
        var poison = planned.IsPoison
            ? new PoisonRecord(partition, offset, $"{partition}@{offset}", planned.PoisonReason!, new RawRecordContent(partition.Source, null, bytes, [], null))
            : null;
        return SourceRead.Record(partition, offset, offset + 1, planned.CommitTime, poison);
    };

    [Fact]
    public async Task Records_are_batched_applied_and_acknowledged_per_partition_and_a_source_that_ends_is_drained_first()
    {
        var runner = NewRunner();
        var source = new ScriptedSource { EndWhenEmpty = true };
        for (var offset = 0; offset < 10; offset++)
        {
            source.Then(Record(runner, P0, offset, id: offset));
        }

        for (var offset = 0; offset < 5; offset++)
        {
            source.Then(Record(runner, P1, offset, id: 100 + offset));
        }

        await runner.RunAsync(source, CancellationToken.None).WaitAsync(Deadline);
        await runner.StopAsync("ended");

        Assert.Equal(Enumerable.Range(0, 10).Concat(Enumerable.Range(100, 5)).Select(id => $"t:{id}").Order(), _listener.AppliedKeys.Order());
        Assert.True(_listener.Batches >= 4, $"MaxRecords 4 cuts 15 records into at least 4 batches, saw {_listener.Batches}");
        Assert.Equal(10, source.Last(P0));
        Assert.Equal(5, source.Last(P1));
        Assert.Equal(15, runner.SubmittedKeys);
        Assert.Equal(0, runner.Tracker.Unfinished);
    }

    /// <summary>
    /// What the direct source's idle confirmation is now: the server's position while quiet comes as a position read
    /// (as a commit does), and only the tracker decides when it may be acknowledged: once everything read before it is
    /// done, which is what "settled" meant before.
    /// </summary>
    [Fact]
    public async Task A_position_read_while_a_batch_is_in_flight_is_acknowledged_only_once_that_batch_is_done()
    {
        var runner = NewRunner();
        var slot = new SourcePartition("postgres", 0);
        var source = new ScriptedSource();
        _listener.Hold();
        source.Then(Record(runner, slot, offset: 100, id: 1)); // tracked 100 → 101
        source.Then(() => SourceRead.Nothing); // nothing more ready, nothing in flight: the batch goes
        source.Then(() => SourceRead.Advance(slot, 101, 900)); // quiet: the server's position
        var run = runner.RunAsync(source, CancellationToken.None);

        await EventuallyAsync(() => _listener.Waiting, "the record's batch is being applied");
        await EventuallyAsync(() => source.Steps == 0, "the position is read");
        await Task.Delay(100); // it is registered behind the batch, and done at once: still nothing acknowledged
        Assert.Null(source.Last(slot));

        _listener.Release();
        await EventuallyAsync(() => source.Last(slot) == 900, "the position is acknowledged with the batch before it");
        source.EndWhenEmpty = true;
        await run.WaitAsync(Deadline);
        await runner.StopAsync("ended");
    }

    [Fact]
    public async Task A_dropped_partition_is_never_acknowledged_and_an_open_batch_left_with_nothing_to_acknowledge_is_discarded()
    {
        var runner = NewRunner();
        var source = new ScriptedSource();
        _listener.Hold();
        int droppedP0 = -1, droppedP1 = -1;
        (int Records, int Partitions) afterP0 = default, afterP1 = default;
        source.Then(Record(runner, P0, 0, id: 0));
        source.Then(() => SourceRead.Nothing); // the batch goes, and waits in the listener
        source.Then(Record(runner, P0, 1, id: 1));
        source.Then(Record(runner, P1, 0, id: 2));
        source.Then(() =>
        {
            // As Kafka's revocation does, inside a read.
            droppedP0 = runner.Drop([P0]);
            afterP0 = (runner.Open.Batch.RecordCount, runner.Open.Batch.Progress.Count);
            droppedP1 = runner.Drop([P1]);
            afterP1 = (runner.Open.Batch.RecordCount, runner.Open.Batch.Progress.Count);
            return SourceRead.Nothing;
        });
        var run = runner.RunAsync(source, CancellationToken.None);

        await EventuallyAsync(() => source.Steps == 0, "the script ran");
        Assert.Equal(1, droppedP0);
        Assert.Equal((2, 1), afterP0); // P1's position stays; P0's keys may stay (a repeated delete is harmless)
        Assert.Equal(1, droppedP1);
        Assert.Equal((0, 0), afterP1); // nothing left to acknowledge: the batch is discarded

        _listener.Release();
        await EventuallyAsync(() => runner.Tracker.Unfinished == 0, "the batch in flight finishes");
        source.EndWhenEmpty = true;
        await run.WaitAsync(Deadline);
        await runner.StopAsync("ended");
        Assert.Empty(source.Acknowledged);
    }

    [Fact]
    public async Task A_poison_record_is_part_of_its_batch_and_without_a_dead_letter_store_the_run_fails_unacknowledged()
    {
        var runner = NewRunner();
        var source = new ScriptedSource();
        source.Then(Record(runner, P0, 0, id: 0));
        source.Then(Record(runner, P0, 1, id: 0, value: "{not json"));

        var failed = await Assert.ThrowsAsync<BatchFailedException>(() => runner.RunAsync(source, CancellationToken.None).WaitAsync(Deadline));
        await runner.StopAsync("failed");

        Assert.Contains("dead-letter store", failed.Message, StringComparison.Ordinal);
        Assert.Empty(source.Acknowledged);
    }

    [Fact]
    public async Task Cancelling_ends_the_run_and_the_shutdown_hands_over_what_finished_and_discards_the_open_batch()
    {
        var runner = NewRunner();
        var source = new ScriptedSource();
        for (var offset = 0; offset < 3; offset++)
        {
            source.Then(Record(runner, P0, offset, id: offset));
        }

        using var stop = new CancellationTokenSource();
        var run = runner.RunAsync(source, stop.Token);
        await EventuallyAsync(() => _listener.AppliedKeys.Count == 3 && runner.Tracker.Unfinished == 0, "the records are applied");
        var fourth = Record(runner, P0, 3, id: 3);
        source.Then(() =>
        {
            stop.Cancel(); // the shutdown comes while a record waits in the open batch
            return fourth();
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(Deadline));
        await runner.StopAsync("shutting down");

        Assert.Equal(3, source.Last(P0));
        Assert.Equal(0, runner.Open.Batch.RecordCount);
        Assert.Equal(3, _listener.AppliedKeys.Count);
    }

    [Fact]
    public async Task A_dry_run_only_counts_its_batches_and_acknowledges_nothing()
    {
        var runner = NewRunner(dryRun: true);
        var source = new ScriptedSource { EndWhenEmpty = true };
        for (var offset = 0; offset < 6; offset++)
        {
            source.Then(Record(runner, P0, offset, id: offset % 5));
        }

        await runner.RunAsync(source, CancellationToken.None).WaitAsync(Deadline);
        await runner.StopAsync("ended");

        Assert.True(runner.SubmittedKeys >= 5, $"the keys are counted, saw {runner.SubmittedKeys}");
        Assert.True(runner.SubmittedBatches >= 2, $"MaxRecords 4 cuts 6 records into at least 2 batches, saw {runner.SubmittedBatches}");
        Assert.Empty(_listener.AppliedKeys);
        Assert.Empty(source.Acknowledged);
    }

    private static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, $"timed out waiting until {what}");
            await Task.Delay(10);
        }
    }

    /// <summary>A source that plays its script, one step per read, then reads nothing (or ends); it notes what it is told to acknowledge.</summary>
    private sealed class ScriptedSource : IChangeSource
    {
        private readonly Queue<Func<SourceRead>> _script = new();
        private readonly Lock _lock = new();
        private readonly List<AcknowledgedPosition> _acknowledged = [];

        public volatile bool EndWhenEmpty;

        public int Steps
        {
            get
            {
                lock (_lock)
                {
                    return _script.Count;
                }
            }
        }

        public IReadOnlyList<AcknowledgedPosition> Acknowledged
        {
            get
            {
                lock (_lock)
                {
                    return [.. _acknowledged];
                }
            }
        }

        public void Then(Func<SourceRead> step)
        {
            lock (_lock)
            {
                _script.Enqueue(step);
            }
        }

        public long? Last(SourcePartition partition) =>
            Acknowledged.Where(a => a.Partition == partition).Select(a => (long?)a.Position).LastOrDefault();

        public async ValueTask<SourceRead> ReadAsync(TimeSpan wait, Task wake, CancellationToken cancellationToken)
        {
            Func<SourceRead>? step;
            lock (_lock)
            {
                _script.TryDequeue(out step);
            }

            if (step is not null)
            {
                return step();
            }

            if (EndWhenEmpty)
            {
                return SourceRead.End;
            }

            await Task.WhenAny(Task.Delay(wait < TimeSpan.FromMilliseconds(5) ? wait : TimeSpan.FromMilliseconds(5), cancellationToken), wake);
            cancellationToken.ThrowIfCancellationRequested();
            return SourceRead.Nothing;
        }

        public void Acknowledge(AcknowledgedPosition position)
        {
            lock (_lock)
            {
                var last = _acknowledged.LastOrDefault(a => a.Partition == position.Partition);
                Assert.True(last == default || position.Position > last.Position, $"{position} after {last}");
                _acknowledged.Add(position);
            }
        }
    }

    /// <summary>What the pipeline applied; <see cref="Hold"/> keeps a batch in flight until <see cref="Release"/>.</summary>
    private sealed class Listener : IBatchListener
    {
        private readonly ManualResetEventSlim _gate = new(initialState: true);
        private readonly Lock _lock = new();
        private readonly List<string> _keys = [];
        private volatile bool _waiting;
        private int _batches;

        public bool Waiting => _waiting;

        public int Batches => Volatile.Read(ref _batches);

        public List<string> AppliedKeys
        {
            get
            {
                lock (_lock)
                {
                    return [.. _keys];
                }
            }
        }

        public void Hold() => _gate.Reset();

        public void Release() => _gate.Set();

        public void OnApplied(SourceBatch batch)
        {
            lock (_lock)
            {
                _keys.AddRange(batch.Invalidations.Keys);
            }

            Interlocked.Increment(ref _batches);
            _waiting = true;
            _gate.Wait(Deadline);
            _waiting = false;
        }
    }
}
