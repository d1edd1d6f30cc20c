using System.Diagnostics.Metrics;
using System.Globalization;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Microsoft.Extensions.DependencyInjection;

namespace Invalidator.Worker.Tests.Diagnostics;

/// <summary>The metrics as a reader of the events: which instrument, value and labels each event becomes (names and labels are a public contract).</summary>
public sealed class InvalidatorMetricsTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly IMeterFactory _meters;
    private readonly MeterListener _listener = new();
    private readonly List<(string Instrument, double Value, string Tags)> _measured = [];

    public InvalidatorMetricsTests()
    {
        _meters = _services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, _meters))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Measured(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Measured(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Measured(i, v, t));
        _listener.Start();
    }

    [Fact]
    public void The_configured_regions_series_start_at_zero()
    {
        _ = new InvalidatorMetrics(_meters, ["east"]);

        Assert.Contains(("invalidator_keys_deleted", 0, "region=east"), _measured);
        Assert.Contains(("invalidator_region_retries", 0, "region=east"), _measured);
        Assert.Contains(("invalidator_region_poison", 0, "region=east"), _measured);
        Assert.Contains(("invalidator_region_replica_acks_missing", 0, "region=east"), _measured);
        Assert.Contains(("invalidator_dead_letters", 0, "reason=poison,region="), _measured);
        Assert.Contains(("invalidator_rules_reloads", 0, "result=rejected"), _measured);
    }

    [Fact]
    public void Each_event_becomes_its_instruments_with_their_labels()
    {
        var events = new WorkerEvents([new InvalidatorMetrics(_meters)]);
        _measured.Clear();

        events.Publish(new RecordHandled("orders", "u", "invalidated"));
        events.Publish(new RegionApplied("east", 5, 2, TimeSpan.FromMilliseconds(250)));
        events.Publish(new RegionSecondDeleted("east", 5, 1));
        events.Publish(new RegionRetried("west"));
        events.Publish(new RegionReplicaAcksMissing("west", "127.0.0.1:6379", 0, 1));
        events.Publish(new DeadLetterWritten("poison", "east", "2 keys, 1 tags: WRONGTYPE", PoisonedNames: 3));
        events.Publish(new ShadowPlanned("public.customers", 2, 1, null));
        events.Publish(new BatchApplied(7, [new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero)], [], new DateTimeOffset(2026, 1, 1, 12, 0, 2, TimeSpan.Zero)));
        events.Publish(new RulesReloaded("applied"));
        events.Publish(new CircuitOpened("east")); // a gauge's state: the status keeps it, no instrument here

        Assert.Equal(
            [
                ("invalidator_records", 1, "op=u,outcome=invalidated,topic=orders"),
                ("invalidator_region_delete_seconds", 0.25, "region=east"),
                ("invalidator_keys_deleted", 5, "region=east"),
                ("invalidator_keys_found", 2, "region=east"),
                ("invalidator_second_deletes", 5, "region=east"),
                ("invalidator_second_delete_hits", 1, "region=east"),
                ("invalidator_region_retries", 1, "region=west"),
                ("invalidator_region_replica_acks_missing", 1, "region=west"),
                ("invalidator_region_poison", 3, "region=east"),
                ("invalidator_dead_letters", 1, "reason=poison,region=east"),
                ("invalidator_shadow_records", 1, "table=public.customers"),
                ("invalidator_shadow_keys", 2, "table=public.customers"),
                ("invalidator_shadow_tags", 1, "table=public.customers"),
                ("invalidator_end_to_end_seconds", 2, ""),
                ("invalidator_batch_size", 7, ""),
                ("invalidator_rules_reloads", 1, "result=applied"),
            ],
            _measured);
    }

    [Fact]
    public void A_replica_s_expired_waits_start_at_zero_when_it_is_watched_and_its_lag_is_the_status_s()
    {
        var metrics = new InvalidatorMetrics(_meters);
        var status = new WorkerStatus(Microsoft.Extensions.Options.Options.Create(new Invalidator.Worker.Options.InvalidatorOptions()), TimeProvider.System);
        metrics.ObserveStatus(status);
        var events = new WorkerEvents([metrics, status]);
        _measured.Clear();

        events.Publish(new ReplicaWatched("eu1"));
        events.Publish(new ReplicaPolled("eu1", 0x1_0000_0028, 2.5, null, DateTimeOffset.UnixEpoch));
        events.Publish(new ReplicaWaitExpired("eu1"));
        _listener.RecordObservableInstruments();

        Assert.Equal(
            [
                ("invalidator_replica_waits_expired", 0, "replica=eu1"),
                ("invalidator_replica_waits_expired", 1, "replica=eu1"),
            ],
            _measured.Where(m => m.Instrument == "invalidator_replica_waits_expired"));
        Assert.Equal([("invalidator_replica_lag_seconds", 2.5, "replica=eu1")], _measured.Where(m => m.Instrument == "invalidator_replica_lag_seconds"));
        var replica = Assert.Single(status.Replicas());
        Assert.Equal(new ReplicaView("eu1", true, 2.5, "1/28", DateTimeOffset.UnixEpoch, null, 1), replica);
    }

    public void Dispose()
    {
        _listener.Dispose();
        _services.Dispose();
    }

    private void Measured<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var labels = string.Join(",", tags.ToArray().OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}"));
        _measured.Add((instrument.Name, Convert.ToDouble(value, CultureInfo.InvariantCulture), labels));
    }
}
