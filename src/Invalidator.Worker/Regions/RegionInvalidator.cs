using System.Runtime.CompilerServices;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Polly;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

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
/// slot so it also works on Redis Cluster.
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

    internal RegionInvalidator(
        string name,
        RegionOptions options,
        IConnectionMultiplexer redis,
        ResiliencePipeline pipeline,
        InvalidatorMetrics metrics,
        int keysPerCommand,
        TimeProvider time,
        WorkerStatus? status = null)
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
    }

    public string Name { get; }

    public string KeyPrefix { get; }

    internal IConnectionMultiplexer Connection => _redis;

    /// <summary>
    /// Deletes the keys, and for each tag every member of the set <c>tag:&lt;tag&gt;</c>, retrying per the region's
    /// policy. Throws <see cref="RegionApplyException"/> when the region could not apply them.
    /// </summary>
    public async Task<RegionApplyResult> ApplyAsync(IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, CancellationToken cancellationToken)
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
                    return new ValueTask<RegionApplyResult>(state.self.ApplyOnceAsync(state.keys, state.tags, ct));
                },
                (self: this, keys, tags, attempts),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _status?.RegionFailed(Name, ex);
            throw new RegionApplyException(Name, Math.Max(attempts.Value, 1), ex);
        }

        var elapsed = _time.GetElapsedTime(started);
        _metrics.RegionDeleteSeconds.Record(elapsed.TotalSeconds, _regionTag);
        _metrics.KeysDeleted.Add(result.KeysDeleted, _regionTag);
        _metrics.KeysFound.Add(result.KeysFound, _regionTag);
        _status?.RegionApplied(Name, result.KeysDeleted, result.KeysFound, elapsed);
        _status?.RegionDeadLettering(Name, active: false);
        return result;
    }

    private async Task<RegionApplyResult> ApplyOnceAsync(IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, CancellationToken cancellationToken)
    {
        var db = _redis.GetDatabase();
        var names = new List<RedisKey>(keys.Count);
        foreach (var key in keys)
        {
            names.Add(KeyPrefix + key);
        }

        // Tags: read each tag set, delete its members, then remove exactly those members from the set.
        // SREM (not DEL of the set) keeps members an application added meanwhile; Redis drops the set when empty.
        var tagSets = new List<(RedisKey Set, RedisValue[] Members)>(tags.Count);
        if (tags.Count > 0)
        {
            var reads = new List<(RedisKey Set, Task<RedisValue[]> Members)>(tags.Count);
            foreach (var tag in tags)
            {
                RedisKey set = KeyPrefix + TagSets.SetName(tag);
                reads.Add((set, db.SetMembersAsync(set)));
            }

            foreach (var (set, members) in reads)
            {
                var values = await members.WaitAsync(cancellationToken).ConfigureAwait(false);
                tagSets.Add((set, values));
                foreach (var member in values)
                {
                    names.Add(KeyPrefix + (string)member!);
                }
            }
        }

        var deletes = new List<Task<RedisResult>>();
        foreach (var chunk in SlotChunks(names))
        {
            deletes.Add(db.ExecuteAsync(_command, chunk));
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

    /// <summary>Groups keys by cluster hash slot (a multi-key command must stay in one slot) and splits large groups.</summary>
    private IEnumerable<object[]> SlotChunks(List<RedisKey> names)
    {
        // Standalone servers take any keys together; grouping by slot there would only shrink the commands.
        var isCluster = _redis.GetServers().Any(s => s.ServerType == ServerType.Cluster);
        IEnumerable<IEnumerable<RedisKey>> groups = isCluster ? names.GroupBy(n => _redis.HashSlot(n)) : [names];
        foreach (var group in groups)
        {
            foreach (var chunk in group.Chunk(_keysPerCommand))
            {
                yield return Array.ConvertAll(chunk, k => (object)k);
            }
        }
    }
}

/// <summary>The tag convention shared with applications: tag <c>T</c> lists its keys in the Redis set <c>tag:T</c>.</summary>
public static class TagSets
{
    public const string Prefix = "tag:";

    public static string SetName(string tag) => Prefix + tag;
}
