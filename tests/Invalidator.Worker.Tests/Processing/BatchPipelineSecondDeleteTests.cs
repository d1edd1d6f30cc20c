using System.Diagnostics;
using Invalidator.Core.Planning;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;
using Invalidator.Worker.Events;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.Worker.Tests.Processing;

/// <summary>
/// The whole apply stage (pipeline, applier, tracker, scheduler) with the second delete on a fake clock. There are no
/// regions, so a delete is done at once; what is tested is what waits for what.
/// </summary>
public sealed class BatchPipelineSecondDeleteTests : IDisposable
{
    private static readonly SourcePartition P0 = new("t", 0);
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(800);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly List<AcknowledgedPosition> _acks = [];
    private readonly Lock _acksLock = new();
    private readonly BatchPipeline _pipeline;

    public BatchPipelineSecondDeleteTests()
    {
        var metrics = new InvalidatorMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        var status = new WorkerStatus(MsOptions.Create(new InvalidatorOptions()), _time);
        var applier = new BatchApplier(
            new RegionSet([]), null, [], new WorkerEvents([metrics, status]), NullLogger<BatchApplier>.Instance, _time,
            new ConsistencyOptions { SecondDeleteDelay = Delay });
        _pipeline = new BatchPipeline(applier, new AcknowledgementTracker(1, OnAcknowledged), _time);
    }

    public void Dispose()
    {
        _pipeline.Dispose();
        _services.Dispose();
    }

    private void OnAcknowledged(AcknowledgedPosition position)
    {
        lock (_acksLock)
        {
            _acks.Add(position);
        }
    }

    private long? Acknowledged()
    {
        lock (_acksLock)
        {
            return _acks.Count == 0 ? null : _acks[^1].Position;
        }
    }

    private SourceBatch Batch(long from, long to, string key)
    {
        var batch = _pipeline.NewBatch();
        for (var offset = from; offset < to; offset++)
        {
            batch.Track(P0.Source, P0.Partition, offset, offset + 1, null);
        }

        batch.Invalidations.Add(new InvalidationPlan(PlanOutcome.Invalidate, [key], [], []));
        return batch;
    }

    private static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Deadline, $"within {Deadline.TotalSeconds} s: {what}");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task Later_batches_are_applied_while_the_first_waits_for_its_second_delete_and_acknowledgement_follows_it()
    {
        var tracker = _pipeline.Tracker;
        var submitted = new List<SourceBatch> { Batch(0, 10, "a") };
        await _pipeline.SubmitAsync(submitted[0], () => { }, CancellationToken.None);
        await EventuallyAsync(() => _pipeline.SecondDeletes.Waiting == 1, "batch a's first deletes are done and its second delete waits");
        Assert.Null(Acknowledged());

        // One slot (MaxInFlight 1): each submit waits for the slot only while first deletes run, never for a delay.
        for (var i = 1; i <= 5; i++)
        {
            submitted.Add(Batch(i * 10, (i + 1) * 10, $"k{i}"));
            var submit = _pipeline.SubmitAsync(submitted[^1], () => { }, CancellationToken.None);
            await submit.WaitAsync(Deadline);
            await EventuallyAsync(() => tracker.HasRoom, $"batch {i}'s first deletes are done");
        }

        Assert.Equal(6, tracker.Unfinished);
        Assert.Null(Acknowledged());
        Assert.Equal(6, _pipeline.SecondDeletes.Pending);

        _time.Advance(Delay + SecondDeleteScheduler.LongestTick);
        await EventuallyAsync(() => Acknowledged() == 60, "every position is acknowledged once the second deletes ran");
        await EventuallyAsync(() => tracker.Unfinished == 0, "no batch is left");
        Assert.Equal(0, _pipeline.SecondDeletes.Pending);

        // Done batches are reused (emptied), only now that their second delete has read them.
        var reused = _pipeline.NewBatch();
        Assert.Contains(submitted, b => ReferenceEquals(b, reused));
        Assert.Equal(0, reused.RecordCount);
    }

    [Fact]
    public async Task Shutdown_abandons_the_waiting_second_deletes_and_acknowledges_nothing_they_cover()
    {
        await _pipeline.SubmitAsync(Batch(0, 3, "a"), () => { }, CancellationToken.None);
        await EventuallyAsync(() => _pipeline.SecondDeletes.Waiting == 1, "the second delete waits");

        await _pipeline.AbandonAsync().WaitAsync(Deadline);
        _time.Advance(TimeSpan.FromSeconds(5));

        Assert.Null(Acknowledged());
        Assert.Equal(1, _pipeline.Tracker.Unfinished);
        Assert.Equal(0, _pipeline.SecondDeletes.Pending);
    }
}
