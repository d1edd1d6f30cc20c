using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Polly.Timeout;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

/// <summary>
/// One region's resilience pipeline: retry (exponential backoff with jitter) around a per-attempt timeout.
/// Each region has its own, so one slow region never slows another. A circuit breaker slots in between
/// the retry and the timeout.
/// </summary>
internal static class RegionResilience
{
    public static ResiliencePipeline Build(string region, RegionResilienceOptions options, ILogger logger, InvalidatorMetrics metrics, TimeProvider time)
    {
        var regionTag = new KeyValuePair<string, object?>("region", region);
        return new ResiliencePipelineBuilder { Name = $"region:{region}", TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                ShouldHandle = new PredicateBuilder().Handle<RedisException>().Handle<TimeoutRejectedException>().Handle<TimeoutException>(),
                OnRetry = args =>
                {
                    metrics.RegionRetries.Add(1, regionTag);
                    Log.RegionRetry(logger, region, args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Exception);
                    return default;
                },
            })
            .AddTimeout(options.AttemptTimeout)
            .Build();
    }
}
