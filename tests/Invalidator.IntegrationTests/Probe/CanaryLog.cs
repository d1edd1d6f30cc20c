using System.Collections.Concurrent;
using Invalidator.Worker.Events;

namespace Invalidator.IntegrationTests.Probe;

/// <summary>Every canary a worker's probe measured, as it published them.</summary>
internal sealed class CanaryLog : IEventListener<CanaryMeasured>
{
    private readonly ConcurrentQueue<CanaryMeasured> _all = new();

    public void On(in CanaryMeasured e) => _all.Enqueue(e);

    /// <summary>The canaries of <paramref name="region"/> decided after <paramref name="since"/>, in the order they were.</summary>
    public List<CanaryMeasured> Of(string region, DateTimeOffset since = default) =>
        [.. _all.Where(c => c.Region == region && c.At > since)];

    public string Describe(string region, DateTimeOffset since = default) =>
        string.Join(", ", Of(region, since).Select(c => $"{c.Canary} {c.Result} {c.Freshness?.TotalSeconds:0.000}s {c.Reason}"));
}
