using System.Diagnostics.Metrics;
using Invalidator.Worker.Diagnostics;
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
    }

    public InvalidatorMetrics Metrics { get; }

    public void Dispose() => _services.Dispose();
}
