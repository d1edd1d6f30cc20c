using System.Diagnostics.Metrics;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Microsoft.Extensions.DependencyInjection;

namespace Invalidator.Benchmarks;

/// <summary>The worker's metrics instruments outside a host, for benchmarks that build its parts directly.</summary>
internal sealed class MeterFactoryScope : IDisposable
{
    private readonly ServiceProvider _services;

    public MeterFactoryScope()
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        Metrics = new InvalidatorMetrics(_services.GetRequiredService<IMeterFactory>());
        Events = new WorkerEvents([Metrics]);
    }

    public InvalidatorMetrics Metrics { get; }

    /// <summary>What the parts publish, read by <see cref="Metrics"/> (as in the worker, where the status reads it too).</summary>
    public WorkerEvents Events { get; }

    public void Dispose() => _services.Dispose();
}
