using System.Diagnostics;
using System.Diagnostics.Metrics;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Invalidator.Worker.Hosting;

namespace Invalidator.Benchmarks.Drain;

/// <summary>The real worker host (<c>AddInvalidator()</c>) with in-memory settings, as the benchmarks run it.</summary>
internal static class WorkerHost
{
    public static IHost Build(string contentRoot, IReadOnlyDictionary<string, string?> settings, IEnumerable<IBatchListener> listeners, IEnumerable<IWorkerEventListener>? events = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = contentRoot });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Invalidator:Http:Urls"] = "http://127.0.0.1:0", ["Invalidator:Http:StatusUrls"] = "" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddInvalidator();
        foreach (var listener in listeners)
        {
            builder.Services.AddSingleton(listener);
        }

        foreach (var reader in events ?? [])
        {
            builder.Services.AddSingleton(reader);
        }

        return builder.Build();
    }
}

/// <summary>Notes when the batches applied so far cover every expected record; optionally the latency of every record.</summary>
internal sealed class AppliedListener(int expected, LatencySamples? latency = null) : IBatchListener
{
    private int _records;
    private int _batches;
    private long _allAppliedAt;

    public long? AllAppliedAt => Interlocked.Read(ref _allAppliedAt) is var at and not 0 ? at : null;

    public int Batches => Volatile.Read(ref _batches);

    public int Records => Volatile.Read(ref _records);

    public void OnApplied(SourceBatch batch)
    {
        // Applied in every region (BatchApplier tells its listeners after the last region answered).
        latency?.Add(batch.CommitTimes, DateTimeOffset.UtcNow);
        Interlocked.Increment(ref _batches);
        if (Interlocked.Add(ref _records, batch.RecordCount) >= expected)
        {
            Interlocked.CompareExchange(ref _allAppliedAt, Stopwatch.GetTimestamp(), 0);
        }
    }
}

/// <summary>Produce-to-applied latencies: the benchmark writes the produce time into each record's source.ts_us.</summary>
internal sealed class LatencySamples
{
    private readonly Lock _lock = new();
    private readonly List<double> _millis = [];

    /// <summary>Records committed before this are warm-up and not counted.</summary>
    public DateTimeOffset From { get; set; } = DateTimeOffset.MaxValue;

    public void Add(IReadOnlyList<DateTimeOffset> produced, DateTimeOffset applied)
    {
        lock (_lock)
        {
            foreach (var at in produced)
            {
                if (at >= From)
                {
                    _millis.Add((applied - at).TotalMilliseconds);
                }
            }
        }
    }

    public double[] Sorted()
    {
        lock (_lock)
        {
            var copy = _millis.ToArray();
            Array.Sort(copy);
            return copy;
        }
    }

    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>The worker's own counters, read with a MeterListener: when it consumed its first record, its records and deletes.</summary>
internal sealed class WorkerCounters : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _firstRecordAt;
    private long _records;
    private long _keysDeleted;
    private long _keysFound;

    public WorkerCounters(IMeterFactory hostMeters, Action? onFirstRecord = null)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // Only this host's meter: other parts of the benchmark create instruments of the same name.
            if (instrument.Meter.Name == InvalidatorMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, hostMeters)
                && instrument.Name is "invalidator_records" or "invalidator_keys_deleted" or "invalidator_keys_found")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            switch (instrument.Name)
            {
                case "invalidator_records":
                    // Called for every record on the worker's consume loop: read the clock only for the first one.
                    if (Volatile.Read(ref _firstRecordAt) == 0 && Interlocked.CompareExchange(ref _firstRecordAt, Stopwatch.GetTimestamp(), 0) == 0)
                    {
                        onFirstRecord?.Invoke();
                    }

                    Interlocked.Add(ref _records, value);
                    break;
                case "invalidator_keys_deleted":
                    Interlocked.Add(ref _keysDeleted, value);
                    break;
                case "invalidator_keys_found":
                    Interlocked.Add(ref _keysFound, value);
                    break;
            }
        });
        _listener.Start();
    }

    public long? FirstRecordAt => Interlocked.Read(ref _firstRecordAt) is var at and not 0 ? at : null;

    public long Records => Interlocked.Read(ref _records);

    public long KeysDeleted => Interlocked.Read(ref _keysDeleted);

    public long KeysFound => Interlocked.Read(ref _keysFound);

    public void Dispose() => _listener.Dispose();
}
