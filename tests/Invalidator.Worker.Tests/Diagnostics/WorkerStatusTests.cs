using System.Diagnostics.Metrics;
using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Http;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;
using Invalidator.Worker.RulesReload;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.Worker.Tests.Diagnostics;

/// <summary>The status object, its gauges and the health rules on a fake clock, fed through the events as the worker publishes them: what servers cannot show quickly.</summary>
public sealed class WorkerStatusTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly IMeterFactory _meters;
    private readonly WorkerStatus _status;
    private readonly WorkerEvents _events;
    private readonly StatusReport _report;

    public WorkerStatusTests()
    {
        _meters = _services.GetRequiredService<IMeterFactory>();
        var options = new InvalidatorOptions();
        options.Regions["east"] = new RegionOptions { Redis = "127.0.0.1:1" };
        options.Regions["west"] = new RegionOptions { Redis = "127.0.0.1:2" };
        _status = new WorkerStatus(MsOptions.Create(options), _time);
        var metrics = new InvalidatorMetrics(_meters, options.Regions.Keys);
        metrics.ObserveStatus(_status);
        _events = new WorkerEvents([metrics, _status]);
        var regions = new RegionSet([]);
        var rules = LiveRules.Fixed(RulesLoader.Parse("tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n", "rules.yaml"));
        _report = new StatusReport(_status, regions, MsOptions.Create(new HttpOptions { LivenessTimeout = TimeSpan.FromMinutes(2) }), rules, MsOptions.Create(new InvalidatorOptions { Mode = WorkerMode.Live }));
    }

    [Fact]
    public void Healthz_fails_when_the_loop_stops_turning_but_not_while_it_works_on_a_region()
    {
        _events.Publish(new ConsumeLoopTicked("kafka"));
        Assert.True(_report.Liveness().Ok);

        _time.Advance(TimeSpan.FromSeconds(90));
        _events.Publish(new RegionFailed("east", new TimeoutException("east timed out")));
        _time.Advance(TimeSpan.FromSeconds(90));
        var busy = _report.Liveness();
        Assert.True(busy.Ok, "a loop blocked on a retrying region is alive");
        Assert.Contains("applying a batch", Assert.Single(busy.Checks).Detail, StringComparison.Ordinal);

        _time.Advance(TimeSpan.FromSeconds(60));
        var stalled = _report.Liveness();
        Assert.False(stalled.Ok);
        Assert.Equal(StatusReport.Unhealthy, stalled.Status);
        Assert.Contains("Invalidator:Http:LivenessTimeout", Assert.Single(stalled.Checks).Detail, StringComparison.Ordinal);

        _events.Publish(new ConsumeLoopTicked("kafka"));
        Assert.True(_report.Liveness().Ok);
        _events.Publish(new ConsumeLoopStopped("kafka", "fatal Kafka error Local_Fatal"));
        var stopped = _report.Liveness();
        Assert.False(stopped.Ok);
        Assert.Contains("fatal Kafka error Local_Fatal", Assert.Single(stopped.Checks).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void The_circuit_gauge_and_readiness_follow_the_breaker_and_dead_lettering()
    {
        _events.Publish(new SourceConnected("postgres"));
        Assert.Equal(0, CircuitGauge("east"));

        _events.Publish(new CircuitOpened("east"));
        Assert.Equal(1, CircuitGauge("east"));
        Assert.Equal(0, CircuitGauge("west"));
        var open = Region(_report.Readiness(), "east");
        Assert.False(open.Ok);
        Assert.Contains("circuit open", open.Detail, StringComparison.Ordinal);

        _events.Publish(new CircuitHalfOpened("east"));
        Assert.Equal(1, CircuitGauge("east"));

        _events.Publish(new RegionDeadLetteringStarted("east"));
        var deadLettering = Region(_report.Readiness(), "east");
        Assert.True(deadLettering.Ok, "a region that deliberately dead-letters keeps the worker ready");
        Assert.Contains("dead-lettering", deadLettering.Detail, StringComparison.Ordinal);

        _events.Publish(new RegionApplied("east", 0, 0, TimeSpan.Zero)); // applying again ends the dead-lettering
        _events.Publish(new CircuitClosed("east"));
        Assert.Equal(0, CircuitGauge("east"));
        // Closed again, the region is judged by its connection: this test has none.
        Assert.Equal("unreachable", _report.Snapshot().Regions.Single(r => r.Name == "east").State);
    }

    /// <summary>
    /// A region that dead-letters on purpose stays ready only while its redrive keeps up: once the oldest letter it works
    /// on is older than Invalidator:DeadLetter:MaxRedriveAge (5 minutes here, the default), the region is not ready.
    /// </summary>
    [Fact]
    public void A_redrive_backlog_older_than_MaxRedriveAge_makes_the_region_not_ready_and_shows_in_the_gauge()
    {
        Assert.Equal(TimeSpan.FromMinutes(5), _status.MaxRedriveAge);
        Assert.Equal(0, BacklogGauge("east"));
        _events.Publish(new RegionDeadLetteringStarted("east"));
        _events.Publish(new RedriveBacklogMeasured("east", _time.GetUtcNow(), "topic dlq [0] @7"));

        _time.Advance(TimeSpan.FromMinutes(4));
        Assert.True(Region(_report.Readiness(), "east").Ok, "a backlog younger than the bound is the redrive at work");
        Assert.Equal(240, BacklogGauge("east"));
        Assert.Equal(240, _report.Snapshot().Regions.Single(r => r.Name == "east").RedriveBacklogSeconds);

        _time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        var stuck = Region(_report.Readiness(), "east");
        Assert.False(stuck.Ok);
        Assert.Contains("Invalidator:DeadLetter:MaxRedriveAge", stuck.Detail, StringComparison.Ordinal);
        Assert.Contains("topic dlq [0] @7", stuck.Detail, StringComparison.Ordinal);
        Assert.Equal("redrive-backlog", _report.Snapshot().Regions.Single(r => r.Name == "east").State);
        Assert.Equal(301, BacklogGauge("east"));
        Assert.Equal(0, BacklogGauge("west"));

        _events.Publish(new RedriveBacklogMeasured("east", null));
        Assert.True(Region(_report.Readiness(), "east").Ok);
        Assert.Equal(0, BacklogGauge("east"));
        Assert.Null(_report.Snapshot().Regions.Single(r => r.Name == "east").RedriveBacklogSeconds);
    }

    [Fact]
    public void Readiness_needs_partitions_or_a_connected_source()
    {
        var none = _report.Readiness().Checks.Single(c => c.Name == "source");
        Assert.False(none.Ok);

        _events.Publish(new PartitionsAssigned([new SourcePartition("t", 0), new SourcePartition("t", 1)]));
        Assert.Contains("2 partition(s) assigned: t[0], t[1]", _report.Readiness().Checks.Single(c => c.Name == "source").Detail, StringComparison.Ordinal);

        _events.Publish(new PartitionsRevoked([new SourcePartition("t", 0), new SourcePartition("t", 1)]));
        _events.Publish(new SourceDisconnected("postgres", "replication slot in use"));
        var disconnected = _report.Readiness().Checks.Single(c => c.Name == "source");
        Assert.False(disconnected.Ok);
        Assert.Contains("replication slot in use", disconnected.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_partition_revoked_while_its_batch_was_in_flight_stays_off_the_list_when_the_batch_is_applied()
    {
        var kept = new SourcePartition("t", 0);
        var revoked = new SourcePartition("t", 1);
        var now = _time.GetUtcNow();
        _events.Publish(new PartitionsAssigned([kept, revoked]));
        _events.Publish(new BatchSubmitted(7, [new PartitionSubmitted(kept, now, 11), new PartitionSubmitted(revoked, now, 21)], now));

        _events.Publish(new PartitionsRevoked([revoked]));
        _events.Publish(new BatchApplied(2, [now, now], [new PartitionApplied(kept, 11, now), new PartitionApplied(revoked, 21, now)], now, 7));

        Assert.Equal([0], _status.Partitions().Select(p => p.Partition));

        // Control: a partition the worker owns is listed once its batch is applied, assignment or not (the direct source has none).
        var direct = new SourcePartition("slot", 0);
        _events.Publish(new BatchSubmitted(8, [new PartitionSubmitted(direct, now, 5)], now));
        _events.Publish(new BatchApplied(1, [now], [new PartitionApplied(direct, 5, now)], now, 8));
        Assert.Contains(_status.Partitions(), p => p.Source == "slot");
    }

    [Fact]
    public void Applied_batches_give_lag_seconds_end_to_end_percentiles_throughput_and_dead_letters()
    {
        var batch = new SourceBatch();
        var now = _time.GetUtcNow();
        for (var i = 1; i <= 100; i++)
        {
            batch.Track("t", 0, i - 1, i, now - TimeSpan.FromMilliseconds((101 - i) * 10)); // offsets in commit order
        }

        batch.Track("t", 1, 4, 5, null);
        _events.Publish(new PartitionsAssigned([new SourcePartition("t", 0), new SourcePartition("t", 1)]));
        _events.Publish(batch.ToAppliedEvent(_time.GetUtcNow()));
        _events.Publish(new DeadLetterWritten("poison", "", "t[1]@4: bad JSON"));
        _time.Advance(TimeSpan.FromSeconds(2));

        var snapshot = _report.Snapshot();
        Assert.Equal(101, snapshot.RecordsApplied);
        Assert.Equal(100, snapshot.EndToEnd.Samples);
        Assert.Equal(0.5, snapshot.EndToEnd.P50!.Value, 3);
        Assert.Equal(0.99, snapshot.EndToEnd.P99!.Value, 3);
        Assert.Equal(1.0, snapshot.EndToEnd.Max!.Value, 3);
        var partition0 = snapshot.Partitions.Single(p => p.Partition == 0);
        Assert.Equal(0, partition0.LagSeconds); // everything read is applied: nothing waits, however old the last commit
        Assert.Equal(100, partition0.NextPosition);
        Assert.Equal(0, snapshot.Partitions.Single(p => p.Partition == 1).LagSeconds);
        Assert.Equal(60, snapshot.Throughput.Count);
        Assert.Equal(101, snapshot.Throughput.Sum());
        Assert.Equal(1, snapshot.DeadLetterTotal);
        Assert.Equal("t[1]@4: bad JSON", Assert.Single(snapshot.RecentDeadLetters).Summary);
    }

    [Fact]
    public void Kafka_statistics_give_lag_per_partition_only_for_owned_partitions()
    {
        _events.Publish(new PartitionsAssigned([new SourcePartition("orders", 0), new SourcePartition("orders", 1), new SourcePartition("orders", 2)]));
        _events.Publish(new ConsumerStatisticsReported("""
            {"name":"invalidator#consumer-1","type":"consumer","topics":{"orders":{"topic":"orders","partitions":{
              "0":{"partition":0,"desired":true,"hi_offset":120,"lo_offset":0,"committed_offset":100,"consumer_lag":20},
              "1":{"partition":1,"desired":true,"hi_offset":50,"lo_offset":10,"committed_offset":-1001,"consumer_lag":-1},
              "2":{"partition":2,"desired":true,"hi_offset":-1,"lo_offset":-1,"committed_offset":-1001,"consumer_lag":-1},
              "3":{"partition":3,"desired":false,"hi_offset":70,"lo_offset":0,"committed_offset":60,"consumer_lag":10},
              "-1":{"partition":-1,"hi_offset":-1,"committed_offset":-1001,"consumer_lag":-1}}}}}
            """));

        var lag = ObservedLag();
        Assert.Equal(20, lag[0]); // log end 120 - committed 100
        Assert.Equal(40, lag[1]); // nothing committed: everything retained (50 - 10) is unacknowledged
        Assert.False(lag.ContainsKey(2), "no log end known yet: no value rather than a wrong one");
        Assert.False(lag.ContainsKey(3), "a partition this worker does not own");
        Assert.Equal(20, _report.Snapshot().Partitions.Single(p => p.Partition == 0).LagMessages);
    }

    [Fact]
    public void Lag_seconds_is_the_oldest_waiting_change_age_and_stays_0_while_idle()
    {
        var partition = new SourcePartition("postgres", 0);
        var start = _time.GetUtcNow();
        var first = Submitted(1, partition, 0, start - TimeSpan.FromSeconds(1));
        var second = Submitted(2, partition, 10, start);
        Assert.Equal(1, LagSeconds(partition), 3);

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(6, LagSeconds(partition), 3);
        Assert.Equal(6, Observe<double>("invalidator_lag_seconds").Single().Value, 3);

        // Batches finish in any order: the older one still waits.
        _events.Publish(second.ToAppliedEvent(_time.GetUtcNow()));
        Assert.Equal(6, LagSeconds(partition), 3);
        _events.Publish(first.ToAppliedEvent(_time.GetUtcNow()));
        Assert.Equal(0, LagSeconds(partition));

        // Idle: the last applied commit gets older, the lag does not.
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(0, LagSeconds(partition));
        Assert.Equal(0, Observe<double>("invalidator_lag_seconds").Single().Value);

        // A batch whose records carry no commit time waits from when it was cut.
        Submitted(3, partition, 20, null);
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(3, LagSeconds(partition), 3);
    }

    [Fact]
    public void Kafka_message_lag_counts_as_waiting_only_in_statistics_newer_than_the_last_applied_batch()
    {
        var partition = new SourcePartition("orders", 0);
        _events.Publish(new PartitionsAssigned([partition]));
        var committed = _time.GetUtcNow() - TimeSpan.FromSeconds(1);
        var batch = Submitted(1, partition, 0, committed);
        _events.Publish(batch.ToAppliedEvent(_time.GetUtcNow()));

        // Statistics taken before the commit of the applied offsets caught up still show them as lag.
        _time.Advance(TimeSpan.FromSeconds(1));
        _events.Publish(new ConsumerStatisticsReported(Statistics(lag: 3)));
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, LagSeconds(partition));

        // Newer statistics that still see lag: unread changes wait, younger than the newest applied commit.
        _events.Publish(new ConsumerStatisticsReported(Statistics(lag: 3)));
        Assert.Equal(32, LagSeconds(partition), 3);

        _events.Publish(new ConsumerStatisticsReported(Statistics(lag: 0)));
        Assert.Equal(0, LagSeconds(partition));
    }

    [Fact]
    public void The_slot_lag_in_bytes_is_a_gauge_and_the_direct_source_row_shows_it()
    {
        Assert.Empty(Observe<long>("invalidator_slot_lag_bytes"));
        Submitted(1, new SourcePartition("postgres", 0), 0, _time.GetUtcNow());
        _events.Publish(new SlotLagPolled("invalidator", 4096, null));

        var (bytes, tags) = Assert.Single(Observe<long>("invalidator_slot_lag_bytes"));
        Assert.Equal(4096, bytes);
        Assert.Equal("invalidator", tags["slot"]);
        var snapshot = _report.Snapshot();
        Assert.Equal(4096, snapshot.Partitions.Single().LagBytes);
        Assert.Equal("invalidator", snapshot.Slot!.Name);

        _events.Publish(new SlotLagPolled("invalidator", null, "connection refused"));
        Assert.Empty(Observe<long>("invalidator_slot_lag_bytes"));
        Assert.Equal("connection refused", _report.Snapshot().Slot!.Error);
    }

    public void Dispose() => _services.Dispose();

    private static string Statistics(long lag) =>
        "{\"topics\":{\"orders\":{\"partitions\":{\"0\":{\"partition\":0,\"hi_offset\":100,\"lo_offset\":0,\"committed_offset\":"
        + (100 - lag).ToString(System.Globalization.CultureInfo.InvariantCulture) + ",\"consumer_lag\":" + lag.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}}}}}";

    /// <summary>A batch of one record at <paramref name="position"/>, submitted as the runner does.</summary>
    private SourceBatch Submitted(long number, SourcePartition partition, long position, DateTimeOffset? commitTime)
    {
        var batch = new SourceBatch { Sequence = number };
        batch.Track(partition.Source, partition.Partition, position, position + 1, commitTime);
        _events.Publish(new BatchSubmitted(number, [.. batch.Progress.Select(p => new PartitionSubmitted(p.Key, p.FirstCommitTime))], _time.GetUtcNow()));
        return batch;
    }

    private double LagSeconds(SourcePartition partition) =>
        _status.Partitions().Single(p => p.Source == partition.Source && p.Partition == partition.Partition).LagSeconds!.Value;

    private static HealthCheck Region(HealthReport report, string region) => report.Checks.Single(c => c.Name == $"region:{region}");

    private int CircuitGauge(string region) =>
        (int)Observe<int>("invalidator_region_circuit_open").Single(m => Equals(m.Tags["region"], region)).Value;

    private double BacklogGauge(string region) =>
        Observe<double>("invalidator_redrive_backlog_age_seconds").Single(m => Equals(m.Tags["region"], region)).Value;

    private Dictionary<int, long> ObservedLag() =>
        Observe<long>("invalidator_consumer_lag_messages").ToDictionary(m => int.Parse((string)m.Tags["partition"]!, System.Globalization.CultureInfo.InvariantCulture), m => (long)m.Value);

    /// <summary>Reads an observable gauge of this test's meter only (other tests' workers have meters of the same name).</summary>
    private List<(double Value, Dictionary<string, object?> Tags)> Observe<T>(string name)
        where T : struct
    {
        var measurements = new List<(double, Dictionary<string, object?>)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == name && ReferenceEquals(instrument.Meter.Scope, _meters))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<T>((_, value, tags, _) =>
            measurements.Add((Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), tags.ToArray().ToDictionary(t => t.Key, t => t.Value))));
        listener.Start();
        listener.RecordObservableInstruments();
        return measurements;
    }
}
