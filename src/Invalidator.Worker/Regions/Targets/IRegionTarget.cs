using Invalidator.Worker.Options;

namespace Invalidator.Worker.Regions.Targets;

/// <summary>
/// What one attempt of a region's apply does with a batch's keys and tags, in the cache the region's
/// <c>Target</c> names. <see cref="RegionInvalidator"/> runs it inside the region's resilience pipeline (retry,
/// circuit breaker, timeout) and records its metrics, and the batching, dead letters and redrive around it are the
/// same for every target: a target only says what an invalidation means in its cache. An attempt may be repeated
/// (a retry, a redrive, a replay after a crash), so it must be idempotent, and it must throw unless every
/// invalidation reached the server. Errors that <see cref="RedisErrorClassifier.IsTransient"/> calls transient (a
/// connection, a timeout, a server that is loading or failing over) are retried and counted by the circuit breaker;
/// any other error fails the attempt at once.
/// </summary>
internal interface IRegionTarget : IDisposable
{
    RegionTarget Kind { get; }

    /// <summary>
    /// Whether <see cref="RegionApplyResult.KeysFound"/> counts what was cached: Redis answers each delete with a
    /// count; FusionCache's remove and the output cache's eviction say nothing, so their results count 0 found.
    /// </summary>
    bool CountsFound { get; }

    /// <summary>Where the invalidations go, for the start-up log (for example <c>key prefix 'app:', UNLINK</c>).</summary>
    string Description { get; }

    /// <summary>One attempt: every key and tag of the batch, lease keys where <paramref name="leases"/> says and the target has them.</summary>
    Task<RegionApplyResult> ApplyOnceAsync(
        IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, LeaseSelection leases, CancellationToken cancellationToken);
}
