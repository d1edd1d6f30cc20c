using System.Runtime.InteropServices;
using System.Text;
using Invalidator.Client;
using Invalidator.Worker.Options;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions.Targets;

/// <summary>
/// Target <c>Redis</c>: deletes a batch's keys and tag members in the region's Redis. Only deletes: UNLINK/DEL are
/// idempotent, so a replayed batch is harmless. Commands are pipelined, many keys per command, one command per hash
/// slot so it also works on Redis Cluster. Where leases apply, each key's lease key <c>L(K)</c> (which lives in K's
/// slot) is deleted in the same command as K, so no reader can see K gone while its lease still stands.
/// </summary>
internal sealed class RedisTarget : IRegionTarget
{
    private readonly IConnectionMultiplexer _redis;
    private readonly int _keysPerCommand;
    private readonly string _command;
    private readonly string _keyPrefix;
    private readonly RedisKey _prefix;

    public RedisTarget(RegionOptions options, IConnectionMultiplexer redis, int keysPerCommand)
    {
        _redis = redis;
        _keysPerCommand = keysPerCommand;
        _command = options.DeleteCommand == DeleteCommand.Unlink ? "UNLINK" : "DEL";
        _keyPrefix = options.KeyPrefix;
        _prefix = Prefix(options.KeyPrefix);
    }

    public RegionTarget Kind => RegionTarget.Redis;

    public bool CountsFound => true;

    public string Description => $"key prefix '{_keyPrefix}', {_command}";

    public async Task<RegionApplyResult> ApplyOnceAsync(
        IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, LeaseSelection leases, CancellationToken cancellationToken)
    {
        var db = _redis.GetDatabase();
        // Each name once (before the region's prefix), with its lease key if any source of it asks for one (a key may
        // also be a tag member).
        var names = new Dictionary<string, bool>(keys.Count, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            AddName(names, key, leases.ForKey(key));
        }

        // Tags: read each tag set, delete its members, then remove exactly those members from the set.
        // SREM (not DEL of the set) keeps members an application added meanwhile; Redis drops the set when empty.
        var tagSets = new List<(RedisKey Set, RedisValue[] Members)>(tags.Count);
        if (tags.Count > 0)
        {
            var reads = new List<(RedisKey Set, bool Leases, Task<RedisValue[]> Members)>(tags.Count);
            foreach (var tag in tags)
            {
                RedisKey set = _keyPrefix + TagSets.SetName(tag);
                reads.Add((set, leases.ForTag(tag), db.SetMembersAsync(set)));
            }

            foreach (var (set, withLeases, members) in reads)
            {
                var values = await members.WaitAsync(cancellationToken).ConfigureAwait(false);
                tagSets.Add((set, values));
                foreach (var member in values)
                {
                    AddName(names, (string)member!, withLeases);
                }
            }
        }

        var deletes = new List<Task<RedisResult>>();
        foreach (var command in DeleteCommands(names, _keyPrefix, _prefix, _keysPerCommand, IsCluster ? _redis.HashSlot : null))
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

    // The region owns the connection (RegionInvalidator disposes it); nothing else to let go of.
    public void Dispose()
    {
    }

    // Standalone servers take any keys together; grouping by slot there would only shrink the commands.
    private bool IsCluster => _redis.GetServers().Any(s => s.ServerType == ServerType.Cluster);

    /// <summary>The region's key prefix as bytes, which a key carries beside its own name (no string per key).</summary>
    internal static RedisKey Prefix(string keyPrefix) => keyPrefix.Length == 0 ? default : (RedisKey)Encoding.UTF8.GetBytes(keyPrefix);

    private static void AddName(Dictionary<string, bool> names, string name, bool withLease)
    {
        ref var lease = ref CollectionsMarshal.GetValueRefOrAddDefault(names, name, out _);
        lease |= withLease;
    }

    /// <summary>
    /// The arguments of each delete command: names grouped by cluster hash slot when <paramref name="slotOf"/> is given
    /// (a multi-key command must stay in one slot), at most <paramref name="keysPerCommand"/> names a command, and a key's
    /// lease key always in the key's own command (it is in the key's slot by construction, and splitting the pair
    /// would let a reader populate between the two deletes). A pair may exceed a limit of 1.
    /// A key whose braces form no hash tag has no lease key (readers cannot take one for it) and is deleted alone.
    /// </summary>
    internal static IEnumerable<object[]> DeleteCommands(IReadOnlyDictionary<string, bool> names, int keysPerCommand, Func<RedisKey, int>? slotOf) =>
        DeleteCommands(names, "", default, keysPerCommand, slotOf);

    /// <summary>
    /// As <see cref="DeleteCommands(IReadOnlyDictionary{string, bool}, int, Func{RedisKey, int}?)"/> for names before the
    /// region's <paramref name="keyPrefix"/> (<paramref name="prefix"/>, its bytes): a name is sent as the prefix's bytes and
    /// its own, so the prefixed name is a string only where its lease key is derived from it.
    /// </summary>
    internal static IEnumerable<object[]> DeleteCommands(
        IReadOnlyDictionary<string, bool> names, string keyPrefix, RedisKey prefix, int keysPerCommand, Func<RedisKey, int>? slotOf)
    {
        IEnumerable<IEnumerable<KeyValuePair<string, bool>>> groups = slotOf is null ? [names] : names.GroupBy(n => slotOf(((RedisKey)n.Key).Prepend(prefix)));
        var command = new List<object>(Math.Min(keysPerCommand + 1, names.Count * 2));
        foreach (var group in groups)
        {
            foreach (var (name, withLease) in group)
            {
                var prefixed = withLease ? keyPrefix + name : null;
                var lease = prefixed is not null && LeaseProtocol.TryGetLeaseKey(prefixed, out var leaseKey) ? leaseKey : null;
                if (command.Count > 0 && command.Count + (lease is null ? 1 : 2) > keysPerCommand)
                {
                    yield return [.. command];
                    command.Clear();
                }

                command.Add(prefixed is not null ? (RedisKey)prefixed : ((RedisKey)name).Prepend(prefix));
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
