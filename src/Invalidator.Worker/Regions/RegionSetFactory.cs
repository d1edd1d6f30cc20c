using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

/// <summary>Connects every configured region. A region that is down at start is not fatal: its deletes retry until it is back.</summary>
internal static class RegionSetFactory
{
    public static RegionSet Create(IOptions<InvalidatorOptions> options, InvalidatorMetrics metrics, ILoggerFactory loggers, TimeProvider time, WorkerStatus? status = null)
    {
        var settings = options.Value;
        var logger = loggers.CreateLogger<RegionInvalidator>();
        var regions = new List<RegionInvalidator>();
        foreach (var (name, region) in settings.Regions.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            var redisOptions = ConfigurationOptions.Parse(region.Redis);
            redisOptions.AbortOnConnectFail = false;
            redisOptions.ClientName ??= "invalidator";
            // A command for a disconnected server fails at once instead of waiting in a backlog, so the retry
            // and circuit breaker see the outage and the batch is dead-lettered instead of held up.
            redisOptions.BacklogPolicy = BacklogPolicy.FailFast;
            var connection = ConnectionMultiplexer.Connect(redisOptions);
            var circuit = new CircuitBreakerStateProvider();
            var pipeline = RegionResilience.Build(name, region.Resilience, circuit, logger, metrics, time, status);
            regions.Add(new RegionInvalidator(name, region, connection, pipeline, metrics, settings.Batching.KeysPerCommand, time, status));
            Log.RegionReady(logger, name, string.Join(",", redisOptions.EndPoints), region.KeyPrefix, region.DeleteCommand.ToString().ToUpperInvariant());
        }

        return new RegionSet(regions);
    }
}
