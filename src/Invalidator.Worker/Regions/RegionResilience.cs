using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Invalidator.Worker.Regions;

/// <summary>
/// One region's resilience pipeline, outermost first: retry (exponential backoff with jitter), circuit
/// breaker, per-attempt timeout. Each region has its own, so one slow region never slows another. An open
/// circuit is not retried: it fails at once, and the region's invalidations are dead-lettered. Only transient errors
/// (<see cref="RedisErrorClassifier.IsTransient"/>) are retried and count against the circuit: a server that refuses a
/// command for good is a server that works.
/// </summary>
internal static class RegionResilience
{
    public static ResiliencePipeline Build(
        string region,
        RegionResilienceOptions options,
        CircuitBreakerStateProvider circuit,
        ILogger logger,
        WorkerEvents events,
        TimeProvider time,
        RedisErrorClassifier? errors = null)
    {
        var classifier = errors ?? RedisErrorClassifier.Default;
        var transient = new PredicateBuilder().Handle<Exception>(ex => ex is not BrokenCircuitException && classifier.IsTransient(ex));
        var breaker = options.CircuitBreaker;
        return new ResiliencePipelineBuilder { Name = $"region:{region}", TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                ShouldHandle = transient,
                OnRetry = args =>
                {
                    events.Publish(new RegionRetried(region));
                    Log.RegionRetry(logger, region, args.AttemptNumber + 1, Log.Describe(args.Outcome.Exception), args.RetryDelay);
                    return default;
                },
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = breaker.FailureRatio,
                MinimumThroughput = breaker.MinimumThroughput,
                SamplingDuration = breaker.SamplingDuration,
                BreakDuration = breaker.BreakDuration,
                ShouldHandle = transient,
                StateProvider = circuit,
                OnOpened = args =>
                {
                    Log.CircuitOpened(logger, region, args.BreakDuration, Log.Describe(args.Outcome.Exception));
                    events.Publish(new CircuitOpened(region));
                    return default;
                },
                OnHalfOpened = _ =>
                {
                    Log.CircuitHalfOpened(logger, region);
                    events.Publish(new CircuitHalfOpened(region));
                    return default;
                },
                OnClosed = _ =>
                {
                    Log.CircuitClosed(logger, region);
                    events.Publish(new CircuitClosed(region));
                    return default;
                },
            })
            .AddTimeout(options.AttemptTimeout)
            .Build();
    }
}
