using System.Runtime.CompilerServices;
using Invalidator.Client;
using Invalidator.Core.Planning;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Polly;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

/// <summary>
/// Which delete of a batch this is: the first, when the change arrives, or the delayed second one
/// (<c>secondDelete</c>), which deletes the same names again and is counted apart.
/// </summary>
public enum DeleteRound
{
    First,
    Second,
}

/// <summary>What one region did with a batch.</summary>
public readonly record struct RegionApplyResult(long KeysDeleted, long KeysFound);

/// <summary>A region that could not apply a batch: after its retries, or at once when its circuit is open.</summary>
public sealed class RegionApplyException(string region, int attempts, Exception inner)
    : Exception($"region {region} failed after {attempts} attempt(s): {inner.Message}", inner)
{
    public string Region { get; } = region;

    public int Attempts { get; } = attempts;
}

/// <summary>
/// Deletes a batch's keys and tag members in one region's Redis. Only deletes: UNLINK/DEL are idempotent,
/// so a replayed batch is harmless. Commands are pipelined, many keys per command, one command per hash
/// slot so it also works on Redis Cluster. Where leases apply, each key's lease key <c>L(K)</c> (which lives in
/// K's slot) is deleted in the same command as K, so no reader can see K gone while its lease still stands.
/// </summary>
public sealed class RegionInvalidator
{
    private readonly IConnectionMultiplexer _redis;
    private readonly ResiliencePipeline _pipeline;
    private readonly InvalidatorMetrics _metrics;
    private readonly WorkerStatus? _status;
    private readonly int _keysPerCommand;
    private readonly string _command;
    private readonly TimeProvider _time;
    private readonly KeyValuePair<string, object?> _regionTag;
    private readonly bool _leasesForAll;

    internal RegionInvalidator(
        string name,
        RegionOptions options,
        IConnectionMultiplexer redis,
        ResiliencePipeline pipeline,
        InvalidatorMetrics metrics,
        int keysPerCommand,
        TimeProvider time,
        WorkerStatus? status = null,
        bool leasesForAll = false)
    {
        Name = name;
        KeyPrefix = options.KeyPrefix;
        _redis = redis;
        _pipeline = pipeline;
        _metrics = metrics;
        _status = status;
        _keysPerCommand = keysPerCommand;
        _command = options.DeleteCommand == DeleteCommand.Unlink ? "UNLINK" : "DEL";
        _time = time;
        _regionTag = new("region", name);
        _leasesForAll = leasesForAll;
    }

    public string Name { get; }

    public string KeyPrefix { get; }

    internal IConnectionMultiplexer Connection => _redis;

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
                    return new ValueTask<RegionApplyResult>(state.self.ApplyOnceAsync(state.keys, state.tags, state.leases, ct));
                },
                (self: this, keys, tags, leases, attempts),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _status?.RegionFailed(Name, ex);
            throw new RegionApplyException(Name, Math.Max(attempts.Value, 1), ex);
        }

        var elapsed = _time.GetElapsedTime(started);
        if (round == DeleteRound.Second)
        {
            // UNLINK's count is all the second delete learns: a key found again was populated inside the window.
            _metrics.SecondDeletes.Add(result.KeysDeleted, _regionTag);
            _metrics.SecondDeleteHits.Add(result.KeysFound, _regionTag);
            _status?.RegionSecondDeleted(Name, result.KeysDeleted, result.KeysFound);
        }
        else
        {
            _metrics.RegionDeleteSeconds.Record(elapsed.TotalSeconds, _regionTag);
            _metrics.KeysDeleted.Add(result.KeysDeleted, _regionTag);
            _metrics.KeysFound.Add(result.KeysFound, _regionTag);
            _status?.RegionApplied(Name, result.KeysDeleted, result.KeysFound, elapsed);
        }

        _status?.RegionDeadLettering(Name, active: false);
        return result;
    }

    private async Task<RegionApplyResult> ApplyOnceAsync(
        IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, LeaseSelection leases, CancellationToken cancellationToken)
    {
        var db = _redis.GetDatabase();
        // Each name once, with its lease key if any source of it asks for one (a key may also be a tag member).
        var names = new Dictionary<string, bool>(keys.Count, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            AddName(names, KeyPrefix + key, leases.ForKey(key));
        }

        // Tags: read each tag set, delete its members, then remove exactly those members from the set.
        // SREM (not DEL of the set) keeps members an application added meanwhile; Redis drops the set when empty.
        var tagSets = new List<(RedisKey Set, RedisValue[] Members)>(tags.Count);
        if (tags.Count > 0)
        {
            var reads = new List<(RedisKey Set, bool Leases, Task<RedisValue[]> Members)>(tags.Count);
            foreach (var tag in tags)
            {
                RedisKey set = KeyPrefix + TagSets.SetName(tag);
                reads.Add((set, leases.ForTag(tag), db.SetMembersAsync(set)));
            }

            foreach (var (set, withLeases, members) in reads)
            {
                var values = await members.WaitAsync(cancellationToken).ConfigureAwait(false);
                tagSets.Add((set, values));
                foreach (var member in values)
                {
                    AddName(names, KeyPrefix + (string)member!, withLeases);
                }
            }
        }

        var deletes = new List<Task<RedisResult>>();
        foreach (var command in DeleteCommands(names, _keysPerCommand, IsCluster ? _redis.HashSlot : null))
        {
            deletes.Add(db.ExecuteAsync(_command, command));
        }

        var removals = new List<Task<long>>(tagSets.Count);
        foreach (var (set, members) in tagSets)
        {
            if (members.Length > 0)
            {
                removals.Add(db.SetRemoveAsync(set, members));
            }
        }

        long found = 0;
        foreach (var delete in deletes)
        {
            found += (long)await delete.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        await Task.WhenAll(removals).WaitAsync(cancellationToken).ConfigureAwait(false);
        return new RegionApplyResult(names.Count, found);
    }

    // Standalone servers take any keys together; grouping by slot there would only shrink the commands.
    private bool IsCluster => _redis.GetServers().Any(s => s.ServerType == ServerType.Cluster);

    private static void AddName(Dictionary<string, bool> names, string name, bool withLease)
    {
        ref var lease = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(names, name, out _);
        lease |= withLease;
    }

    /// <summary>
    /// The arguments of each delete command: names grouped by cluster hash slot when <paramref name="slotOf"/> is given
    /// (a multi-key command must stay in one slot), at most <paramref name="keysPerCommand"/> names a command, and a key's
    /// lease key always in the key's own command (it is in the key's slot by construction, and splitting the pair
    /// would let a reader populate between the two deletes). A pair may exceed a limit of 1.
    /// A key whose braces form no hash tag has no lease key (readers cannot take one for it) and is deleted alone.
    /// </summary>
    internal static IEnumerable<object[]> DeleteCommands(IReadOnlyDictionary<string, bool> names, int keysPerCommand, Func<RedisKey, int>? slotOf)
    {
        IEnumerable<IEnumerable<KeyValuePair<string, bool>>> groups = slotOf is null ? [names] : names.GroupBy(n => slotOf(n.Key));
        var command = new List<object>(Math.Min(keysPerCommand + 1, names.Count * 2));
        foreach (var group in groups)
        {
            foreach (var (name, withLease) in group)
            {
                var lease = withLease && LeaseProtocol.TryGetLeaseKey(name, out var leaseKey) ? leaseKey : null;
                if (command.Count > 0 && command.Count + (lease is null ? 1 : 2) > keysPerCommand)
                {
                    yield return [.. command];
                    command.Clear();
                }

                command.Add((RedisKey)name);
                if (lease is not null)
                {
                    command.Add((RedisKey)lease);
                }
            }

            if (command.Count > 0)
            {
                yield return [.. command];
                command.Clear();
            }
        }
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

    public bool ForKey(string key) => _all || _keys?.Contains(key) == true;

    public bool ForTag(string tag) => _all || _tags?.Contains(tag) == true;
}

/// <summary>The tag convention shared with applications: tag <c>T</c> lists its keys in the Redis set <c>tag:T</c>.</summary>
public static class TagSets
{
    public const string Prefix = "tag:";

    public static string SetName(string tag) => Prefix + tag;
}
