using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>One region built by the worker's own factory (its invalidator, connection and resilience), outside a host.</summary>
internal sealed class TestRegion : IDisposable
{
    private readonly ServiceProvider _services;

    public TestRegion(string redis, string keyPrefix, bool leasesForAll = false, int keysPerCommand = 500, Action<RegionOptions>? configure = null, Microsoft.Extensions.Logging.ILoggerFactory? loggers = null, RedisErrorClassifier? errors = null, Invalidator.Worker.Events.IWorkerEventListener? listener = null)
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var region = new RegionOptions { Redis = redis, KeyPrefix = keyPrefix };
        configure?.Invoke(region);
        var options = new InvalidatorOptions
        {
            Regions = { ["test"] = region },
            Batching = { KeysPerCommand = keysPerCommand },
            Consistency = { Leases = leasesForAll },
        };
        Set = RegionSetFactory.Create(
            MsOptions.Create(options),
            new Invalidator.Worker.Events.WorkerEvents(
                [new Invalidator.Worker.Diagnostics.InvalidatorMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), .. listener is null ? [] : new[] { listener }]),
            loggers ?? NullLoggerFactory.Instance,
            TimeProvider.System,
            errors: errors);
    }

    public RegionSet Set { get; }

    public RegionInvalidator Region => Set.Regions[0];

    public void Dispose()
    {
        Set.Dispose();
        _services.Dispose();
    }
}
