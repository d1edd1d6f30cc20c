using System.Runtime.CompilerServices;
using Invalidator.Core.Planning;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions.Targets;
using Polly;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

/// <summary>
/// Which delete of a batch this is: the first, when the change arrives, or the delayed second one
/// (<c>secondDelete</c>), which deletes the same names again and is counted apart.
/// </summary>
internal enum DeleteRound
{
    First,
    Second,

    /// <summary>The names of tables that wait for the read replicas, again once every replica replayed the change.</summary>
    AfterReplicas,
}

/// <summary>
/// What one region did with a batch. <paramref name="Refused"/> are the names its server refused for good (a tag whose
/// set is a string: <c>WRONGTYPE</c>): everything else applied, and those names are for the dead-letter store.
/// </summary>
internal readonly record struct RegionApplyResult(long KeysDeleted, long KeysFound, IReadOnlyList<RefusedName>? Refused = null)
{
    /// <summary>The refused names, none when the whole batch applied.</summary>
    public IReadOnlyList<RefusedName> RefusedNames => Refused ?? [];

    /// <summary>
    /// Work an attempt left for attempts of its own (the next page of a large tag set): <see cref="RegionInvalidator"/>
    /// runs each through the region's resilience pipeline before the batch counts as applied.
    /// </summary>
    internal IReadOnlyList<RegionContinuation>? Continuations { get; init; }
}

/// <summary>A further attempt a target's attempt asked for (see <see cref="RegionApplyResult.Continuations"/>).</summary>
internal delegate Task<RegionApplyResult> RegionContinuation(CancellationToken cancellationToken);

/// <summary>
/// A key or tag (as planned, before the region's key prefix) whose command the region's server refused with a
/// permanent error (<see cref="RedisErrorClassifier.IsRefusal"/>): <paramref name="Error"/> is the server's error line.
/// Retrying cannot change it, so it is poisoned alone, and the rest of its batch applies.
/// </summary>
internal sealed record RefusedName(string Name, bool IsTag, string Error);

/// <summary>A region that could not apply a batch: after its retries, or at once when its circuit is open.</summary>
internal sealed class RegionApplyException(string region, int attempts, Exception inner)
    : Exception($"region {region} failed after {attempts} attempt(s): {inner.Message}", inner)
{
    public string Region { get; } = region;

    public int Attempts { get; } = attempts;
}

/// <summary>
/// Applies batches in one region: each attempt is the region's target (<see cref="IRegionTarget"/>: Redis keys and
/// tag sets, FusionCache, or the output cache) run inside the region's resilience pipeline, so retries, the circuit
/// breaker, timeouts and metrics are the same whatever the target.
/// </summary>
internal sealed class RegionInvalidator : IDisposable
{
    private readonly IRegionTarget _target;
    private readonly IConnectionMultiplexer _redis;
    private readonly ResiliencePipeline _pipeline;
    private readonly WorkerEvents _events;
    private readonly TimeProvider _time;
    private readonly bool _leasesForAll;

    /// <summary>A region of target Redis (its <see cref="RegionOptions.Target"/> is not read).</summary>
    internal RegionInvalidator(
        string name,
        RegionOptions options,
        IConnectionMultiplexer redis,
        ResiliencePipeline pipeline,
        WorkerEvents events,
        int keysPerCommand,
        TimeProvider time,
        bool leasesForAll = false,
        RedisErrorClassifier? errors = null)
        : this(name, new RedisTarget(options, redis, keysPerCommand, errors, events, name), redis, pipeline, events, time, leasesForAll, errors)
    {
        KeyPrefix = options.KeyPrefix;
    }

    internal RegionInvalidator(
        string name,
        IRegionTarget target,
        IConnectionMultiplexer redis,
        ResiliencePipeline pipeline,
        WorkerEvents events,
        TimeProvider time,
        bool leasesForAll = false,
        RedisErrorClassifier? errors = null)
    {
        Name = name;
        Errors = errors ?? RedisErrorClassifier.Default;
        _target = target;
        _redis = redis;
        _pipeline = pipeline;
        _events = events;
        _time = time;
        _leasesForAll = leasesForAll;
    }

    public string Name { get; }

    /// <summary>How the region tells a transient Redis error from a permanent one (the redrive asks it too).</summary>
    internal RedisErrorClassifier Errors { get; }

    /// <summary>The Redis key prefix of a region of target Redis; empty for the other targets (they have options of their own).</summary>
    public string KeyPrefix { get; init; } = "";

    /// <summary>What the region's deletes mean (<c>Invalidator:Regions:&lt;name&gt;:Target</c>).</summary>
    public RegionTarget Target => _target.Kind;

    /// <summary>Whether <see cref="RegionApplyResult.KeysFound"/> counts what was cached (only Redis says so).</summary>
    public bool CountsFound => _target.CountsFound;

    /// <summary>The region's Redis connection: the target's commands (and FusionCache's backplane) go through it.</summary>
    internal IConnectionMultiplexer Connection => _redis;

    internal string TargetDescription => _target.Description;

    /// <summary>
    /// Applies a planned batch: its keys and tags, with the lease keys of what lease rules planned (of everything
    /// with <c>Invalidator:Consistency:Leases</c>). Throws <see cref="RegionApplyException"/> when the region could not.
    /// </summary>
    public Task<RegionApplyResult> ApplyAsync(InvalidationBatch batch, CancellationToken cancellationToken) =>
        ApplyAsync(batch, DeleteRound.First, cancellationToken);

    /// <summary>
    /// Applies a planned batch as its <paramref name="round"/>: a second delete deletes the same way (tag sets read
    /// again, lease keys with their keys) and counts in <c>invalidator_second_deletes_total</c> and
    /// <c>invalidator_second_delete_hits_total</c> instead of the first-delete counters.
    /// </summary>
    public Task<RegionApplyResult> ApplyAsync(InvalidationBatch batch, DeleteRound round, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var leases = _leasesForAll ? LeaseSelection.All : LeaseSelection.Of(batch.LeaseKeys, batch.LeaseTags);
        return ApplyAsync(batch.Keys, batch.Tags, leases, round, cancellationToken);
    }

    /// <summary>
    /// Deletes the keys, and for each tag every member of the set <c>tag:&lt;tag&gt;</c>, retrying per the region's
    /// policy, each with its lease key. Used for invalidations that no longer say which rule planned them (a
    /// dead-lettered batch): deleting a lease key is always safe, it can only refuse a reader's populate.
    /// Throws <see cref="RegionApplyException"/> when the region could not apply them.
    /// </summary>
    public Task<RegionApplyResult> ApplyAsync(IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, CancellationToken cancellationToken) =>
        ApplyAsync(keys, tags, LeaseSelection.All, DeleteRound.First, cancellationToken);

    private async Task<RegionApplyResult> ApplyAsync(
        IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, LeaseSelection leases, DeleteRound round, CancellationToken cancellationToken)
    {
        if (keys.Count == 0 && tags.Count == 0)
        {
            return default;
        }

        var started = _time.GetTimestamp();
        var attempts = new StrongBox<int>();
        RegionApplyResult result;
        try
        {
            result = await _pipeline.ExecuteAsync(
                static (state, ct) =>
                {
                    state.attempts.Value++;
                    return new ValueTask<RegionApplyResult>(state.target.ApplyOnceAsync(state.keys, state.tags, state.leases, ct));
                },
                (target: _target, keys, tags, leases, attempts),
                cancellationToken).ConfigureAwait(false);
            if (result.Continuations is { Count: > 0 })
            {
                result = await ContinueAsync(result, attempts, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _events.Publish(new RegionFailed(Name, ex));
            throw new RegionApplyException(Name, Math.Max(attempts.Value, 1), ex);
        }

        var elapsed = _time.GetElapsedTime(started);
        if (round == DeleteRound.Second)
        {
            _events.Publish(new RegionSecondDeleted(Name, result.KeysDeleted, result.KeysFound));
        }
        else if (round == DeleteRound.AfterReplicas)
        {
            _events.Publish(new RegionReplicaDeleted(Name, result.KeysDeleted, result.KeysFound));
        }
        else
        {
            _events.Publish(new RegionApplied(Name, result.KeysDeleted, result.KeysFound, elapsed));
        }

        return result;
    }

    /// <summary>Runs the attempts the first one left (pages of large tag sets), each in the pipeline, and adds up what they did.</summary>
    private async Task<RegionApplyResult> ContinueAsync(RegionApplyResult first, StrongBox<int> attempts, CancellationToken cancellationToken)
    {
        var (deleted, found) = (first.KeysDeleted, first.KeysFound);
        var refused = new List<RefusedName>(first.RefusedNames);
        var pending = new Queue<RegionContinuation>(first.Continuations!);
        while (pending.TryDequeue(out var next))
        {
            var page = await _pipeline.ExecuteAsync(
                static (state, ct) =>
                {
                    state.attempts.Value++;
                    return new ValueTask<RegionApplyResult>(state.next(ct));
                },
                (next, attempts),
                cancellationToken).ConfigureAwait(false);
            deleted += page.KeysDeleted;
            found += page.KeysFound;
            refused.AddRange(page.RefusedNames);
            foreach (var more in page.Continuations ?? [])
            {
                pending.Enqueue(more);
            }
        }

        return new RegionApplyResult(deleted, found, refused.Count > 0 ? refused : null);
    }

    /// <summary>
    /// This region's target, connection and resilience pipeline, reporting to nobody: the start-up warm-up's
    /// (<see cref="Hosting.StartupWarmUp"/>), whose deletes no metric counts. Not to be disposed: it owns nothing.
    /// </summary>
    internal RegionInvalidator Unreported() =>
        new(Name, _target, _redis, _pipeline, WorkerEvents.None, _time, _leasesForAll, Errors) { KeyPrefix = KeyPrefix };

    /// <summary>Lets go of the target (FusionCache's backplane subscription, the output-cache store), then the connection.</summary>
    public void Dispose()
    {
        _target.Dispose();
        _redis.Dispose();
    }
}

/// <summary>Which deleted names also lose their lease key: all of them, or those a lease rule planned.</summary>
internal readonly struct LeaseSelection
{
    private readonly bool _all;
    private readonly IReadOnlySet<string>? _keys;
    private readonly IReadOnlySet<string>? _tags;

    private LeaseSelection(bool all, IReadOnlySet<string>? keys, IReadOnlySet<string>? tags)
    {
        _all = all;
        _keys = keys;
        _tags = tags;
    }

    public static LeaseSelection All { get; } = new(true, null, null);

    public static LeaseSelection Of(IReadOnlySet<string> keys, IReadOnlySet<string> tags) => new(false, keys, tags);

    // An empty set is asked nothing: most batches have no lease names, and a lookup hashes the name.
    public bool ForKey(string key) => _all || (_keys is { Count: > 0 } keys && keys.Contains(key));

    public bool ForTag(string tag) => _all || (_tags is { Count: > 0 } tags && tags.Contains(tag));
}

/// <summary>The tag convention shared with applications: tag <c>T</c> lists its keys in the Redis set <c>tag:T</c>.</summary>
internal static class TagSets
{
    public const string Prefix = "tag:";

    public static string SetName(string tag) => Prefix + tag;
}
