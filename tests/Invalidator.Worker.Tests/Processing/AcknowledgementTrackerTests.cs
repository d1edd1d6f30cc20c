using Invalidator.Worker.Processing;
using Invalidator.Worker.Events;

namespace Invalidator.Worker.Tests.Processing;

/// <summary>The acknowledgement rule, on its own: batches finishing in any order, parts, slots, revocations.</summary>
public sealed class AcknowledgementTrackerTests
{
    private static readonly SourcePartition P0 = new("t", 0);
    private static readonly SourcePartition P1 = new("t", 1);

    private readonly List<AcknowledgedPosition> _acks = [];

    private AcknowledgementTracker NewTracker(int maxInFlight = 4) => new(maxInFlight, _acks.Add);

    /// <summary>A batch of records <paramref name="from"/> to <paramref name="to"/> (exclusive) on each given partition, Kafka style.</summary>
    private static SourceBatch Records(long from, long to, params SourcePartition[] partitions)
    {
        var batch = new SourceBatch();
        foreach (var partition in partitions)
        {
            for (var offset = from; offset < to; offset++)
            {
                batch.Track(partition.Source, partition.Partition, offset, offset + 1, null);
            }
        }

        return batch;
    }

    private static (TrackedBatch Batch, BatchPart Part) Start(AcknowledgementTracker tracker, SourceBatch batch)
    {
        var tracked = tracker.Register(batch);
        var part = tracked.AddPart("regions");
        tracked.Seal();
        return (tracked, part);
    }

    private long? Last(SourcePartition partition) => _acks.Where(a => a.Partition == partition).Select(a => (long?)a.Position).LastOrDefault();

    [Fact]
    public void A_later_batch_that_finishes_first_is_acknowledged_only_with_the_earlier_one()
    {
        var tracker = NewTracker();
        var (_, first) = Start(tracker, Records(0, 10, P0));
        var (_, second) = Start(tracker, Records(10, 20, P0));

        second.Complete();
        Assert.Empty(_acks);
        Assert.False(tracker.IsSettled(P0));

        first.Complete();
        Assert.Equal([new AcknowledgedPosition(P0, 20)], _acks);
        Assert.True(tracker.IsSettled(P0));
    }

    [Fact]
    public void Partitions_are_acknowledged_independently()
    {
        var tracker = NewTracker();
        var (_, both) = Start(tracker, Records(0, 5, P0, P1));
        var (_, onlyP1) = Start(tracker, Records(5, 8, P1));
        var (_, onlyP0) = Start(tracker, Records(5, 9, P0));

        onlyP0.Complete();
        onlyP1.Complete();
        Assert.Empty(_acks);
        both.Complete();

        Assert.Equal(9, Last(P0));
        Assert.Equal(8, Last(P1));
    }

    [Fact]
    public void A_batch_is_done_only_when_every_part_is_and_a_part_may_be_added_by_a_running_part()
    {
        var tracker = NewTracker();
        var tracked = tracker.Register(Records(0, 3, P0));
        var regions = tracked.AddPart("regions");
        var poison = tracked.AddPart("poison");
        tracked.Seal();

        regions.Complete();
        Assert.Empty(_acks);
        // Work that finishes later (a delayed second delete) attaches itself before the part that starts it is done.
        var later = tracked.AddPart("second delete", holdsSlot: false);
        poison.Complete();
        Assert.Empty(_acks);
        Assert.False(tracked.IsDone);

        later.Complete();
        Assert.True(tracked.IsDone);
        Assert.Equal(3, Last(P0));
        Assert.Throws<InvalidOperationException>(() => tracked.AddPart("too late"));
    }

    [Fact]
    public async Task The_slots_are_the_backpressure_and_work_that_holds_no_slot_lets_later_batches_in()
    {
        var tracker = NewTracker(maxInFlight: 2);
        var (_, a) = Start(tracker, Records(0, 1, P0));
        var tracked = tracker.Register(Records(1, 2, P0));
        var first = tracked.AddPart("regions");
        var later = tracked.AddPart("second delete", holdsSlot: false);
        tracked.Seal();
        Assert.False(tracker.HasRoom);
        var waiting = tracker.WaitForRoomAsync(CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        // The first deletes are done: the slot is free although the batch still waits for its later work.
        first.Complete();
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, tracker.InFlight);
        Assert.Equal(2, tracker.Unfinished);
        var (_, c) = Start(tracker, Records(2, 3, P0));

        a.Complete();
        c.Complete();
        Assert.Equal(1, Last(P0)); // the batch waiting for its later work holds back what follows it
        later.Complete();
        Assert.Equal(3, Last(P0));
    }

    [Fact]
    public void A_batch_may_be_reused_only_once_it_is_done_and_only_by_one_caller()
    {
        var tracker = NewTracker();
        var (tracked, part) = Start(tracker, Records(0, 2, P0));
        Assert.False(tracked.TakeForReuse());

        part.Complete();
        Assert.True(tracked.TakeForReuse());
        Assert.False(tracked.TakeForReuse());
    }

    [Fact]
    public void A_position_only_batch_is_done_at_once_but_waits_for_the_batches_before_it()
    {
        var tracker = NewTracker();
        // A change inside a transaction is tracked at the boundary before it (the direct source's way) ...
        var inTransaction = new SourceBatch();
        inTransaction.Track("t", 0, 100, 100, null);
        var (_, changes) = Start(tracker, inTransaction);
        // ... and the commit, read after the batch went out, moves the position to the transaction's end.
        var commit = new SourceBatch();
        commit.Advance("t", 0, 100, 180);
        tracker.Register(commit).Seal();
        Assert.Empty(_acks);
        Assert.Equal(1, tracker.InFlight);

        changes.Complete();
        Assert.Equal(180, Last(P0));
    }

    [Fact]
    public void A_dropped_partition_is_never_acknowledged_by_its_old_batches_and_starts_afresh_when_it_comes_back()
    {
        var tracker = NewTracker();
        var (_, old) = Start(tracker, Records(0, 10, P0, P1));
        Assert.Equal(1, tracker.Drop([P0]));
        var (_, again) = Start(tracker, Records(0, 4, P0));

        old.Complete();
        Assert.Equal([new AcknowledgedPosition(P1, 10)], _acks);
        again.Complete();
        Assert.Equal(4, Last(P0));
    }

    [Fact]
    public async Task A_failed_part_stops_every_acknowledgement_and_the_wait_for_room()
    {
        var tracker = NewTracker(maxInFlight: 1);
        var (_, failing) = Start(tracker, Records(0, 1, P0));
        var waiting = tracker.WaitForRoomAsync(CancellationToken.None);
        failing.Fail(new InvalidOperationException("boom"));

        var thrown = await Assert.ThrowsAsync<BatchFailedException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("boom", thrown.InnerException?.Message);
        Assert.Throws<BatchFailedException>(tracker.ThrowIfFaulted);
        var tracked = tracker.Register(Records(0, 1, P1));
        tracked.AddPart("regions").Complete();
        tracked.Seal();
        Assert.Empty(_acks);
    }

    [Fact]
    public void Abandoned_work_frees_its_slot_but_is_never_done_and_close_stops_acknowledging()
    {
        var tracker = NewTracker(maxInFlight: 1);
        var (abandoned, part) = Start(tracker, Records(0, 5, P0));
        part.Abandon();
        part.Complete(); // too late: the first outcome counts

        Assert.True(tracker.HasRoom);
        Assert.False(abandoned.IsDone);
        var (_, next) = Start(tracker, Records(0, 5, P1));
        tracker.Close();
        next.Complete();
        Assert.Empty(_acks);
    }

    /// <summary>
    /// Many partitions, batches of random shape registered while others complete in random order, parts that hold
    /// no slot, abandoned work, revocations and re-assignments: at every acknowledgement, nothing before the
    /// position is unfinished on that partition; and once everything is done, each partition reaches its end.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void Randomised_completion_orders_and_revocations_never_pass_an_unfinished_batch(int seed)
    {
        var random = new Random(seed);
        var partitions = Enumerable.Range(0, random.Next(1, 25)).Select(i => new SourcePartition(i % 3 == 0 ? "a" : "b", i)).ToList();
        var model = new Model(partitions);
        var tracker = new AcknowledgementTracker(random.Next(1, 6), model.OnAcknowledged);
        model.Tracker = tracker;
        var openParts = new List<BatchPart>();

        for (var step = 0; step < 3000; step++)
        {
            var roll = random.Next(100);
            if (roll < 40 && tracker.HasRoom)
            {
                openParts.AddRange(model.Register(random));
            }
            else if (roll < 85 && openParts.Count > 0)
            {
                var index = random.Next(openParts.Count);
                var part = openParts[index];
                openParts.RemoveAt(index);
                if (random.Next(200) == 0)
                {
                    part.Abandon();
                }
                else
                {
                    part.Complete();
                }
            }
            else if (roll < 92)
            {
                model.Revoke(random);
            }
            else
            {
                model.Reassign(random);
            }
        }

        // Everything left finishes, in random order.
        foreach (var part in openParts.OrderBy(_ => random.Next()))
        {
            part.Complete();
        }

        model.AssertReachedTheEnd();
        Assert.True(model.Acknowledgements > 0, "the run acknowledged something");
    }

    public static TheoryData<int> Seeds()
    {
        var seeds = new TheoryData<int>();
        for (var seed = 1; seed <= 40; seed++)
        {
            seeds.Add(seed * 7919);
        }

        return seeds;
    }

    [Fact]
    public async Task Completions_from_many_threads_at_once_keep_the_rule_and_reach_the_end()
    {
        var partitions = Enumerable.Range(0, 8).Select(i => new SourcePartition("c", i)).ToList();
        var batches = new List<(TrackedBatch Batch, Dictionary<SourcePartition, (long From, long To)> Ranges)>();
        var violations = 0;
        var acknowledged = new Dictionary<SourcePartition, long>();
        AcknowledgementTracker? tracker = null;
        tracker = new AcknowledgementTracker(10_000, ack =>
        {
            // Runs under the tracker's lock: every batch that covers anything before the position must be done.
            foreach (var (batch, ranges) in batches)
            {
                if (ranges.TryGetValue(ack.Partition, out var range) && range.From < ack.Position && !batch.IsDone)
                {
                    Interlocked.Increment(ref violations);
                }
            }

            if (acknowledged.TryGetValue(ack.Partition, out var previous) && previous >= ack.Position)
            {
                Interlocked.Increment(ref violations);
            }

            acknowledged[ack.Partition] = ack.Position;
        });

        var random = new Random(424242);
        var next = partitions.ToDictionary(p => p, _ => 0L);
        var parts = new List<BatchPart>();
        for (var i = 0; i < 2000; i++)
        {
            var batch = new SourceBatch();
            var ranges = new Dictionary<SourcePartition, (long, long)>();
            foreach (var partition in partitions.Where(_ => random.Next(3) == 0).DefaultIfEmpty(partitions[random.Next(partitions.Count)]))
            {
                var count = random.Next(1, 5);
                for (var k = 0; k < count; k++)
                {
                    batch.Track(partition.Source, partition.Partition, next[partition], next[partition] + 1, null);
                    next[partition]++;
                }

                ranges[partition] = (next[partition] - count, next[partition]);
            }

            TrackedBatch tracked;
            lock (batches)
            {
                tracked = tracker.Register(batch);
                batches.Add((tracked, ranges));
            }

            parts.Add(tracked.AddPart("regions"));
            parts.Add(tracked.AddPart("later", holdsSlot: random.Next(2) == 0));
            tracked.Seal();
        }

        var shuffled = parts.OrderBy(_ => random.Next()).ToArray();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = t; i < shuffled.Length; i += 4)
            {
                shuffled[i].Complete();
            }
        })));

        Assert.Equal(0, violations);
        foreach (var partition in partitions)
        {
            Assert.Equal(next[partition], acknowledged[partition]);
        }

        Assert.Equal(0, tracker.Unfinished);
        Assert.Equal(0, tracker.InFlight);
    }

    /// <summary>What the randomised test expects: per partition, the batches of the current assignment in read order.</summary>
    private sealed class Model(IReadOnlyList<SourcePartition> partitions)
    {
        private readonly Dictionary<SourcePartition, Lane> _lanes = partitions.ToDictionary(p => p, _ => new Lane());
        private readonly Dictionary<SourcePartition, long> _committed = partitions.ToDictionary(p => p, _ => 0L);

        public AcknowledgementTracker Tracker { get; set; } = null!;

        public int Acknowledgements { get; private set; }

        public IEnumerable<BatchPart> Register(Random random)
        {
            var owned = _lanes.Where(l => l.Value.Owned).Select(l => l.Key).ToList();
            var batch = new SourceBatch();
            var covered = new List<(Lane Lane, long From, long To)>();
            foreach (var partition in owned.Where(_ => random.Next(4) == 0))
            {
                var lane = _lanes[partition];
                var from = lane.NextRead;
                if (random.Next(10) == 0)
                {
                    // A commit: moves the position without a record (as the direct source does).
                    batch.Advance(partition.Source, partition.Partition, from, from + random.Next(1, 50));
                }
                else
                {
                    var records = random.Next(1, 6);
                    for (var i = 0; i < records; i++)
                    {
                        batch.Track(partition.Source, partition.Partition, lane.NextRead, lane.NextRead + 1, null);
                        lane.NextRead++;
                    }
                }

                var to = batch.Progress.Single(p => p.Key == partition).NextPosition;
                lane.NextRead = to;
                covered.Add((lane, from, to));
            }

            var tracked = Tracker.Register(batch);
            foreach (var (lane, from, to) in covered)
            {
                lane.Batches.Add((tracked, from, to));
            }

            var parts = Enumerable.Range(0, random.Next(0, 4)).Select(i => tracked.AddPart($"part {i}", holdsSlot: random.Next(3) != 0)).ToList();
            tracked.Seal();
            return parts;
        }

        public void Revoke(Random random)
        {
            var owned = _lanes.Where(l => l.Value.Owned).ToList();
            if (owned.Count == 0)
            {
                return;
            }

            var (partition, lane) = owned[random.Next(owned.Count)];
            Tracker.Drop([partition]);
            lane.Owned = false;
            lane.Batches.Clear();
        }

        public void Reassign(Random random)
        {
            var revoked = _lanes.Where(l => !l.Value.Owned).ToList();
            if (revoked.Count == 0)
            {
                return;
            }

            var (partition, lane) = revoked[random.Next(revoked.Count)];
            // The new assignment reads from the committed position: what the tracker acknowledged before.
            lane.Owned = true;
            lane.NextRead = _committed[partition];
            lane.Acknowledged = null;
        }

        public void OnAcknowledged(AcknowledgedPosition ack)
        {
            Acknowledgements++;
            var lane = _lanes[ack.Partition];
            Assert.True(lane.Owned, $"{ack.Partition} acknowledged at {ack.Position} while it is not owned");
            Assert.True(ack.Position > (lane.Acknowledged ?? long.MinValue), $"{ack.Partition} acknowledged {ack.Position} after {lane.Acknowledged}");
            foreach (var (batch, from, _) in lane.Batches)
            {
                // Nothing before the acknowledged position may be unfinished.
                Assert.False(!batch.IsDone && from < ack.Position, $"{ack.Partition} acknowledged {ack.Position} past an unfinished batch from {from}");
            }

            Assert.Contains(lane.Batches, b => b.To == ack.Position);
            lane.Acknowledged = ack.Position;
            _committed[ack.Partition] = ack.Position;
        }

        public void AssertReachedTheEnd()
        {
            foreach (var (partition, lane) in _lanes.Where(l => l.Value.Owned))
            {
                // The end is the last batch before the first one that never finished (abandoned work).
                long? expected = null;
                foreach (var (batch, _, to) in lane.Batches)
                {
                    if (!batch.IsDone)
                    {
                        break;
                    }

                    expected = Math.Max(expected ?? long.MinValue, to);
                }

                if (expected is { } end)
                {
                    Assert.Equal(end, lane.Acknowledged);
                    Assert.Equal(end, Tracker.Acknowledged(partition));
                }
            }
        }

        private sealed class Lane
        {
            public bool Owned { get; set; } = true;

            public long NextRead { get; set; }

            public long? Acknowledged { get; set; }

            public List<(TrackedBatch Batch, long From, long To)> Batches { get; } = [];
        }
    }
}
