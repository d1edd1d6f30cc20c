using Invalidator.Core.Planning;
using Invalidator.Worker.Consistency;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Events;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.Worker.Tests.Processing;

/// <summary>
/// The delayed second delete's scheduling on a fake clock, with the real acknowledgement tracker: when each share is
/// due, what a run deletes, how it gates acknowledgement without holding a slot, the bound, and shutdown.
/// </summary>
public sealed class SecondDeleteSchedulerTests : IDisposable
{
    private static readonly SourcePartition P0 = new("t", 0);
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(800);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly CancellationTokenSource _abandon = new();
    private readonly List<AcknowledgedPosition> _acks = [];
    private readonly List<SecondDeleteRun> _started = [];
    private readonly WorkerStatus _status;
    private readonly WorkerEvents _events;

    public SecondDeleteSchedulerTests()
    {
        _status = new WorkerStatus(MsOptions.Create(new InvalidatorOptions()), _time);
        _events = new WorkerEvents([new InvalidatorMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), _status]);
    }

    public void Dispose()
    {
        _abandon.Dispose();
        _services.Dispose();
    }

    private AcknowledgementTracker NewTracker(int maxInFlight = 4) => new(maxInFlight, _acks.Add);

    private SecondDeleteScheduler NewScheduler(TimeSpan? defaultDelay = null, long maxPending = 1_000_000) =>
        new(defaultDelay ?? Delay, maxPending, _time, _started.Add, NullLogger.Instance, _events, _abandon.Token);

    /// <summary>A batch of records <paramref name="from"/> to <paramref name="to"/> (exclusive) on P0 with the given plans.</summary>
    private static SourceBatch Batch(long from, long to, params InvalidationPlan[] plans)
    {
        var batch = new SourceBatch();
        for (var offset = from; offset < to; offset++)
        {
            batch.Track(P0.Source, P0.Partition, offset, offset + 1, null);
        }

        foreach (var plan in plans)
        {
            batch.Invalidations.Add(plan);
        }

        return batch;
    }

    private static InvalidationPlan Plan(string[] keys, string[]? tags = null, TimeSpan? secondDelete = null, bool leases = false) =>
        new(PlanOutcome.Invalidate, keys, tags ?? [], []) { SecondDelete = secondDelete, Leases = leases };

    /// <summary>Registers the batch with a regions part, as the pipeline does, and returns that part (the first deletes).</summary>
    private static (TrackedBatch Tracked, BatchPart FirstDeletes) Register(AcknowledgementTracker tracker, SourceBatch batch)
    {
        var tracked = tracker.Register(batch);
        var regions = tracked.AddPart("regions");
        tracked.Seal();
        return (tracked, regions);
    }

    /// <summary>The first deletes are durable: the second delete is attached before their part completes, as the pipeline does.</summary>
    private static void FirstDeletesDone(SecondDeleteScheduler scheduler, TrackedBatch tracked, BatchPart firstDeletes)
    {
        scheduler.Schedule(tracked);
        firstDeletes.Complete();
    }

    private long? Last(SourcePartition partition) => _acks.Where(a => a.Partition == partition).Select(a => (long?)a.Position).LastOrDefault();

    [Fact]
    public void A_second_delete_runs_once_its_delay_is_up_and_deletes_the_same_keys_and_tags_with_their_lease_marks()
    {
        var tracker = NewTracker();
        var scheduler = NewScheduler();
        var (tracked, first) = Register(tracker, Batch(0, 3, Plan(["a", "b"], ["t1"]), Plan(["c"], ["t2"], leases: true)));

        FirstDeletesDone(scheduler, tracked, first);
        Assert.Equal(5, scheduler.Pending);
        _time.Advance(Delay - TimeSpan.FromMilliseconds(1));
        Assert.Empty(_started);

        // Due times are rounded up to the tick, so the run comes at most one tick after the delay.
        _time.Advance(SecondDeleteScheduler.TickOf(Delay) + TimeSpan.FromMilliseconds(1));
        var run = Assert.Single(_started);
        Assert.False(run.Early);
        var names = run.Invalidations();
        Assert.Equal(["a", "b", "c"], names.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["t1", "t2"], names.Tags.Order(StringComparer.Ordinal));
        Assert.Equal(["c"], names.LeaseKeys);
        Assert.Equal(["t2"], names.LeaseTags);
        Assert.Equal([new Invalidator.Worker.DeadLetters.RegionDeadLetter.SourceRange("t", 0, 0, 2)], run.Sources());
    }

    [Fact]
    public void A_position_is_acknowledged_only_after_its_second_delete()
    {
        var tracker = NewTracker();
        var scheduler = NewScheduler();
        var (tracked, first) = Register(tracker, Batch(0, 10, Plan(["a"])));

        FirstDeletesDone(scheduler, tracked, first);
        Assert.Empty(_acks);
        Assert.False(tracked.IsDone);
        Assert.False(tracked.TakeForReuse(), "the second delete still reads the batch: it is not reused");

        _time.Advance(Delay + SecondDeleteScheduler.LongestTick);
        Assert.Empty(_acks);
        Assert.Single(_started).Complete();

        Assert.Equal(10, Last(P0));
        Assert.True(tracked.IsDone);
        Assert.Equal(0, scheduler.Pending);
        Assert.Equal(0, _status.SecondDeletesPending);
    }

    [Fact]
    public void Waiting_second_deletes_hold_no_slot_so_later_batches_first_deletes_go_on_while_acknowledgement_waits()
    {
        var tracker = NewTracker(maxInFlight: 1);
        var scheduler = NewScheduler();
        var (a, aFirst) = Register(tracker, Batch(0, 5, Plan(["a"])));
        Assert.False(tracker.HasRoom);

        FirstDeletesDone(scheduler, a, aFirst);
        // The only slot is free again although batch a waits for its second delete.
        Assert.True(tracker.HasRoom);
        Assert.True(tracker.WaitForRoomAsync(CancellationToken.None).IsCompletedSuccessfully);

        // Later batches (one without any second delete) are applied one after the other meanwhile.
        var (b, bFirst) = Register(tracker, Batch(5, 8, Plan(["b"], secondDelete: TimeSpan.Zero)));
        FirstDeletesDone(scheduler, b, bFirst);
        Assert.True(b.IsDone);
        var (c, cFirst) = Register(tracker, Batch(8, 9, Plan(["c"])));
        FirstDeletesDone(scheduler, c, cFirst);
        Assert.Equal(0, tracker.InFlight);
        Assert.Equal(2, tracker.Unfinished);
        Assert.Empty(_acks); // a's position holds back everything behind it

        _time.Advance(Delay + SecondDeleteScheduler.LongestTick);
        var run = Assert.Single(_started); // a and c fell due at the same tick: one delete
        Assert.Equal(["a", "c"], run.Invalidations().Keys.Order(StringComparer.Ordinal));
        run.Complete();
        Assert.Equal(9, Last(P0));
    }

    [Fact]
    public void Each_table_gets_its_own_delay_and_the_global_delay_covers_the_names_of_tables_without_one()
    {
        var tracker = NewTracker();
        var scheduler = NewScheduler(defaultDelay: TimeSpan.FromMilliseconds(500));
        var (tracked, first) = Register(tracker, Batch(
            0,
            4,
            Plan(["fast", "both"], secondDelete: TimeSpan.FromMilliseconds(200)),
            Plan(["slow", "both"], ["slow-tag"], secondDelete: TimeSpan.FromSeconds(2)),
            Plan(["plain"], ["plain-tag"]),
            Plan(["off"], secondDelete: TimeSpan.Zero)));

        FirstDeletesDone(scheduler, tracked, first);
        Assert.Equal(3, scheduler.Waiting);

        _time.Advance(TimeSpan.FromMilliseconds(230));
        var fast = Assert.Single(_started);
        Assert.Equal(["both", "fast"], fast.Invalidations().Keys.Order(StringComparer.Ordinal));
        fast.Complete();

        _time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.Equal(2, _started.Count);
        var global = _started[1].Invalidations();
        Assert.Equal(["plain"], global.Keys); // 'off' turned its table's second delete off
        Assert.Equal(["plain-tag"], global.Tags);
        _started[1].Complete();
        Assert.Empty(_acks);

        _time.Advance(TimeSpan.FromMilliseconds(1500));
        var slow = Assert.Single(_started.Skip(2));
        Assert.Equal(["both", "slow"], slow.Invalidations().Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["slow-tag"], slow.Invalidations().Tags);
        slow.Complete();
        Assert.Equal(4, Last(P0)); // acknowledged after the longest of its delays
    }

    [Fact]
    public void No_second_delete_is_attached_when_neither_the_rule_nor_the_global_setting_asks_for_one()
    {
        var tracker = NewTracker();
        var scheduler = NewScheduler(defaultDelay: TimeSpan.Zero);
        var (tracked, first) = Register(tracker, Batch(0, 2, Plan(["a"]), Plan(["b"], secondDelete: TimeSpan.Zero)));

        FirstDeletesDone(scheduler, tracked, first);

        Assert.True(tracked.IsDone);
        Assert.Equal(2, Last(P0));
        Assert.Equal(0, scheduler.Waiting);
    }

    [Fact]
    public void Second_deletes_due_at_one_tick_are_one_delete_with_each_key_once()
    {
        var tracker = NewTracker();
        var scheduler = NewScheduler();
        _time.Advance(TimeSpan.FromMilliseconds(1)); // inside a tick, not on its edge
        var (a, aFirst) = Register(tracker, Batch(0, 1, Plan(["hot", "a"])));
        var (b, bFirst) = Register(tracker, Batch(1, 2, Plan(["hot", "b"])));
        // Both first deletes finish inside one tick ...
        FirstDeletesDone(scheduler, a, aFirst);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        FirstDeletesDone(scheduler, b, bFirst);
        // ... a third one ticks later.
        _time.Advance(SecondDeleteScheduler.LongestTick + TimeSpan.FromMilliseconds(1));
        var (c, cFirst) = Register(tracker, Batch(2, 3, Plan(["hot"])));
        FirstDeletesDone(scheduler, c, cFirst);

        _time.Advance(Delay);
        var run = Assert.Single(_started);
        Assert.Equal(["a", "b", "hot"], run.Invalidations().Keys.Order(StringComparer.Ordinal));
        Assert.Equal(2, run.Batches.Count());
        run.Complete();
        Assert.Equal(2, Last(P0));

        _time.Advance(SecondDeleteScheduler.LongestTick);
        Assert.Equal(2, _started.Count);
        _started[1].Complete();
        Assert.Equal(3, Last(P0));
    }

    [Fact]
    public void Past_the_bound_the_oldest_waiting_second_deletes_run_at_once_and_no_first_delete_waits()
    {
        var tracker = NewTracker();
        var scheduler = NewScheduler(maxPending: 10);
        var batches = new List<TrackedBatch>();
        for (var i = 0; i < 3; i++)
        {
            // 4 keys per batch, each batch a tick apart, so each has its own run.
            var (tracked, first) = Register(tracker, Batch(i, i + 1, Plan([$"k{i}a", $"k{i}b", $"k{i}c", $"k{i}d"])));
            FirstDeletesDone(scheduler, tracked, first);
            batches.Add(tracked);
            _time.Advance(SecondDeleteScheduler.LongestTick);
        }

        // 12 names > 10: the oldest run (batch 0's) started at once, before its delay.
        var early = Assert.Single(_started);
        Assert.True(early.Early);
        Assert.Equal(["k0a", "k0b", "k0c", "k0d"], early.Invalidations().Keys.Order(StringComparer.Ordinal));
        Assert.Equal(12, scheduler.Pending); // held until it finishes
        Assert.Equal(2, scheduler.Waiting);
        Assert.Equal(4, _status.SecondDeletesEarly);

        early.Complete();
        Assert.Equal(8, scheduler.Pending);
        Assert.Equal(1, Last(P0));

        // A batch larger than the bound on its own: its second delete runs at once too, and the others go first.
        var (big, bigFirst) = Register(tracker, Batch(3, 4, Plan(Enumerable.Range(0, 11).Select(n => $"big{n}").ToArray())));
        FirstDeletesDone(scheduler, big, bigFirst);
        Assert.Equal(4, _started.Count);
        Assert.All(_started, run => Assert.True(run.Early));
        Assert.Equal(0, scheduler.Waiting);
        foreach (var run in _started.Skip(1))
        {
            run.Complete();
        }

        Assert.Equal(4, Last(P0));
        Assert.Equal(0, scheduler.Pending);
    }

    [Fact]
    public void Shutdown_abandons_waiting_second_deletes_so_their_positions_are_never_acknowledged()
    {
        var tracker = NewTracker(maxInFlight: 1);
        var scheduler = NewScheduler();
        var (a, aFirst) = Register(tracker, Batch(0, 5, Plan(["a"])));
        FirstDeletesDone(scheduler, a, aFirst);

        _abandon.Cancel();
        _time.Advance(TimeSpan.FromSeconds(10));

        Assert.Empty(_started);
        Assert.Empty(_acks);
        Assert.False(a.IsDone);
        Assert.True(tracker.HasRoom);
        Assert.Equal(0, scheduler.Pending);

        // A batch whose first deletes finish during the shutdown is not done without its second delete either.
        var (b, bFirst) = Register(tracker, Batch(5, 6, Plan(["b"])));
        FirstDeletesDone(scheduler, b, bFirst);
        Assert.False(b.IsDone);
        Assert.Empty(_acks);
    }

    [Fact]
    public void A_run_finishes_once_whatever_ends_it()
    {
        var tracker = NewTracker();
        var scheduler = NewScheduler();
        var (a, aFirst) = Register(tracker, Batch(0, 1, Plan(["a"])));
        FirstDeletesDone(scheduler, a, aFirst);
        _time.Advance(Delay + SecondDeleteScheduler.LongestTick);
        var run = Assert.Single(_started);

        run.Fail(new InvalidOperationException("boom"));
        run.Complete();

        Assert.IsType<InvalidOperationException>(tracker.Fault);
        Assert.Empty(_acks);
        Assert.Equal(0, scheduler.Pending);
    }

    [Theory]
    [InlineData(800, 50)]
    [InlineData(400, 50)]
    [InlineData(200, 25)]
    [InlineData(4, 1)]
    public void The_tick_is_50_ms_or_an_eighth_of_a_short_delay(int delayMs, int tickMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(tickMs), SecondDeleteScheduler.TickOf(TimeSpan.FromMilliseconds(delayMs)));
}

/// <summary>
/// The second delete of names that wait for the read replicas: scheduled in two calls, the other names' after the first
/// delete and theirs after the replica delete, with their delays counted from each call.
/// </summary>
public sealed class SecondDeleteReplicaSplitTests : IDisposable
{
    private static readonly SourcePartition P0 = new("t", 0);
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(800);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly CancellationTokenSource _abandon = new();
    private readonly List<AcknowledgedPosition> _acks = [];
    private readonly List<SecondDeleteRun> _started = [];
    private readonly WorkerEvents _events = new([]);

    public void Dispose() => _abandon.Dispose();

    private SecondDeleteScheduler NewScheduler(TimeSpan defaultDelay) =>
        new(defaultDelay, 1_000_000, _time, _started.Add, NullLogger.Instance, _events, _abandon.Token);

    private static InvalidationPlan Plan(string[] keys, string[] tags, TimeSpan? secondDelete = null, bool leases = false, bool replicas = false) =>
        new(PlanOutcome.Invalidate, keys, tags, []) { SecondDelete = secondDelete, Leases = leases, WaitForReplicas = replicas };

    [Fact]
    public void The_waiting_names_second_delete_counts_from_the_replica_delete_and_the_position_waits_for_both()
    {
        var tracker = new AcknowledgementTracker(4, _acks.Add);
        var scheduler = NewScheduler(Delay);
        var batch = new SourceBatch();
        batch.Track(P0.Source, P0.Partition, 0, 1, null);
        batch.Invalidations.Add(Plan(["primary-only"], ["t1"]));
        batch.Invalidations.Add(Plan(["replica"], ["t2"], leases: true, replicas: true));
        var tracked = tracker.Register(batch);
        var first = tracked.AddPart("regions");
        var replicaDelete = tracked.AddPart("replica delete", holdsSlot: false);
        tracked.Seal();
        var waiting = new ReplicaWaitNames(batch.Invalidations.ReplicaWaits);

        scheduler.Schedule(tracked, waiting, afterReplicas: false);
        first.Complete();
        _time.Advance(TimeSpan.FromMilliseconds(500));
        // The replica delete ran 500 ms after the first delete: the waiting names' delay starts now.
        Assert.Equal(["replica"], waiting.ToBatch(batch.Invalidations).Keys);
        Assert.Equal(["replica"], waiting.ToBatch(batch.Invalidations).LeaseKeys);
        scheduler.Schedule(tracked, waiting, afterReplicas: true);
        replicaDelete.Complete();

        _time.Advance(TimeSpan.FromMilliseconds(400));
        var early = Assert.Single(_started);
        Assert.Equal(["primary-only"], early.Invalidations().Keys);
        Assert.Equal(["t1"], early.Invalidations().Tags);
        early.Complete();
        Assert.Empty(_acks);

        _time.Advance(TimeSpan.FromMilliseconds(500));
        var late = Assert.Single(_started.Skip(1));
        Assert.Equal(["replica"], late.Invalidations().Keys);
        Assert.Equal(["replica"], late.Invalidations().LeaseKeys);
        Assert.Equal(["t2"], late.Invalidations().LeaseTags);
        late.Complete();
        Assert.Equal(1, _acks[^1].Position);
    }

    [Fact]
    public void Split_in_two_the_second_deletes_cover_exactly_the_names_one_call_would_with_the_same_delays_and_lease_marks()
    {
        // Generated batches: random tables (delays, leases, replica waits) over a small name space, so names overlap.
        for (var seed = 0; seed < 300; seed++)
        {
            var random = new Random(seed);
            var defaultDelay = random.Next(3) == 0 ? TimeSpan.Zero : Delay;
            var batch = new SourceBatch();
            batch.Track(P0.Source, P0.Partition, 0, 1, null);
            for (var plan = random.Next(1, 6); plan > 0; plan--)
            {
                string[] keys = [.. Enumerable.Range(0, random.Next(0, 4)).Select(_ => "k" + random.Next(8))];
                string[] tags = [.. Enumerable.Range(0, random.Next(0, 3)).Select(_ => "t" + random.Next(4))];
                TimeSpan? delay = random.Next(4) switch { 0 => null, 1 => TimeSpan.Zero, 2 => Delay, _ => TimeSpan.FromSeconds(2) };
                batch.Invalidations.Add(Plan([.. keys.Distinct()], [.. tags.Distinct()], delay, random.Next(2) == 0, random.Next(2) == 0));
            }

            var whole = Scheduled(defaultDelay, batch, split: null);
            var waiting = random.Next(5) == 0 ? ReplicaWaitNames.Every
                : batch.Invalidations.ReplicaWaits is { } names ? new ReplicaWaitNames(names) : null;
            if (waiting is null)
            {
                continue;
            }

            var split = Scheduled(defaultDelay, batch, waiting);
            Assert.Equal(whole, split);
        }
    }

    /// <summary>Every (delay, kind, name, lease mark) the scheduler's runs delete for the batch, scheduled whole or split in two.</summary>
    private List<string> Scheduled(TimeSpan defaultDelay, SourceBatch batch, ReplicaWaitNames? split)
    {
        _started.Clear();
        var tracker = new AcknowledgementTracker(4, _ => { });
        using var abandon = new CancellationTokenSource();
        var scheduler = new SecondDeleteScheduler(defaultDelay, 1_000_000, _time, _started.Add, NullLogger.Instance, _events, abandon.Token);
        var tracked = tracker.Register(batch);
        tracked.AddPart("regions");
        tracked.Seal();
        if (split is null)
        {
            scheduler.Schedule(tracked);
        }
        else
        {
            scheduler.Schedule(tracked, split, afterReplicas: false);
            scheduler.Schedule(tracked, split, afterReplicas: true);
        }

        _time.Advance(TimeSpan.FromSeconds(3));
        var names = new List<string>();
        foreach (var run in _started)
        {
            var delay = run.Shares.Select(s => s.Delay).Distinct().Single();
            var deleted = run.Invalidations();
            names.AddRange(deleted.Keys.Select(k => $"{delay} key {k} {deleted.LeaseKeys.Contains(k)}"));
            names.AddRange(deleted.Tags.Select(t => $"{delay} tag {t} {deleted.LeaseTags.Contains(t)}"));
            run.Complete();
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }
}

/// <summary>The position a direct-mode batch's replica wait waits for: the end of the last transaction whose changes it holds.</summary>
public sealed class SourceBatchReplicaPositionTests
{
    private static RecordIntake NoRules() =>
        new(new Invalidator.Core.Rules.RuleSet("rules.yaml", []), WorkerEvents.None, NullLogger<RecordIntake>.Instance, TimeProvider.System);

    [Fact]
    public async Task A_batch_of_whole_transactions_waits_for_the_end_of_the_last_one_and_a_kafka_batch_for_none()
    {
        var batch = new SourceBatch();
        batch.ChangeInTransaction();
        batch.TransactionEnded(100);
        batch.ChangeInTransaction();
        batch.TransactionEnded(250);
        Assert.Equal(250UL, await batch.ReplicaPositionAsync());

        // Kafka mode notes no transaction: the primary's position is read instead.
        Assert.Null(await new SourceBatch().ReplicaPositionAsync());
    }

    [Fact]
    public async Task A_batch_cut_inside_a_transaction_waits_for_that_transactions_end_once_its_commit_is_read()
    {
        var open = new OpenBatch(NoRules(), new BatchFill(new BatchingOptions(), TimeProvider.System), 1024);
        open.ChangeInTransaction();
        var first = open.Cut(new SourceBatch());
        open.ChangeInTransaction();
        var second = open.Cut(new SourceBatch());
        var positions = (first.ReplicaPositionAsync().AsTask(), second.ReplicaPositionAsync().AsTask());
        Assert.False(positions.Item1.IsCompleted);

        open.ChangeInTransaction();
        open.TransactionEnded(900);
        Assert.Equal(900UL, await positions.Item1);
        Assert.Equal(900UL, await positions.Item2);
        Assert.Equal(900UL, await open.Batch.ReplicaPositionAsync());
    }

    [Fact]
    public async Task A_batch_cut_inside_a_transaction_the_session_lost_falls_back_to_the_primarys_position()
    {
        var open = new OpenBatch(NoRules(), new BatchFill(new BatchingOptions(), TimeProvider.System), 1024);
        open.ChangeInTransaction();
        var cut = open.Cut(new SourceBatch());
        open.TransactionLost();
        Assert.Null(await cut.ReplicaPositionAsync());
    }
}
