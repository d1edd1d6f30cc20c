using System.Runtime.InteropServices;
using System.Text;
using Invalidator.Client;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions.Targets;

/// <summary>
/// Target <c>Redis</c>: deletes a batch's keys and tag members in the region's Redis. Only deletes: UNLINK/DEL are
/// idempotent, so a replayed batch is harmless. Commands are pipelined, many keys per command, one command per hash
/// slot so it also works on Redis Cluster. Where leases apply, each key's lease key <c>L(K)</c> (which lives in K's
/// slot) is deleted in the same command as K, so no reader can see K gone while its lease still stands. A name the
/// server refuses for good (a tag set that is not a set: <c>WRONGTYPE</c>) is returned as refused, and the rest applies.
/// </summary>
internal sealed class RedisTarget : IRegionTarget
{
    /// <summary>Members read per SSCAN call (<c>COUNT</c>, a hint the server follows closely for large sets).</summary>
    internal const int ScanPageSize = 1000;

    private readonly IConnectionMultiplexer _redis;
    private readonly int _keysPerCommand;
    private readonly string _command;
    private readonly string _keyPrefix;
    private readonly RedisKey _prefix;
    private readonly RedisErrorClassifier _errors;
    private readonly int _waitReplicas;
    private readonly TimeSpan _waitTimeout;
    private readonly WorkerEvents _events;
    private readonly string _region;

    /// <param name="events">Where a <c>WAIT</c> that fell short is said (<see cref="RegionReplicaAcksMissing"/>), as region <paramref name="region"/>.</param>
    public RedisTarget(
        RegionOptions options, IConnectionMultiplexer redis, int keysPerCommand, RedisErrorClassifier? errors = null, WorkerEvents? events = null, string region = "")
    {
        _events = events ?? WorkerEvents.None;
        _region = region;
        _errors = errors ?? RedisErrorClassifier.Default;
        _redis = redis;
        _keysPerCommand = keysPerCommand;
        _command = options.DeleteCommand == DeleteCommand.Unlink ? "UNLINK" : "DEL";
        _keyPrefix = options.KeyPrefix;
        _prefix = Prefix(options.KeyPrefix);
        _waitReplicas = options.WaitReplicas;
        _waitTimeout = options.WaitTimeout;
    }

    public RegionTarget Kind => RegionTarget.Redis;

    public bool CountsFound => true;

    public string Description => _waitReplicas > 0
        ? $"key prefix '{_keyPrefix}', {_command}, WAIT {_waitReplicas} replica(s) {_waitTimeout.TotalMilliseconds:0} ms"
        : $"key prefix '{_keyPrefix}', {_command}";

    public async Task<RegionApplyResult> ApplyOnceAsync(
        IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, LeaseSelection leases, CancellationToken cancellationToken)
    {
        var db = _redis.GetDatabase();
        // Every command is awaited on its own: a name the server refuses for good (WRONGTYPE) is poisoned alone and
        // the rest of the batch applies; a transient error anywhere fails the attempt (it is repeated whole).
        var refused = new List<RefusedName>();
        if (tags.Count == 0 && DistinctNames(keys) is { } distinct)
        {
            // The batch's keys are a set already: no second set of them per region and attempt (each key hashed once more).
            var list = new List<DeleteName>(distinct.Count);
            foreach (var key in distinct)
            {
                list.Add(new DeleteName(key, leases.ForKey(key)));
            }

            var deleted = await DeleteAsync(db, list, [], refused, null, cancellationToken).ConfigureAwait(false);
            return new RegionApplyResult(list.Count, deleted, refused.Count > 0 ? refused : null);
        }

        // Each name once (before the region's prefix), with its lease key if any source of it asks for one (a key may
        // also be a tag member).
        var names = new Dictionary<string, bool>(keys.Count, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            AddName(names, key, leases.ForKey(key));
        }

        // Tags: read each tag set, delete its members, then remove exactly those members from the set.
        // SREM (not DEL of the set) keeps members an application added meanwhile; Redis drops the set when empty.
        // A set is read with SSCAN, a page at a time: a set larger than a page goes on in attempts of its own, a page each.
        var removals = new List<(string Tag, RedisKey Set, RedisValue[] Members)>(tags.Count);
        List<RegionContinuation>? rest = null;
        if (tags.Count > 0)
        {
            var reads = new List<(string Tag, RedisKey Set, bool Leases, Task<RedisResult> Page)>(tags.Count);
            foreach (var tag in tags)
            {
                RedisKey set = _keyPrefix + TagSets.SetName(tag);
                reads.Add((tag, set, leases.ForTag(tag), Scan(db, set, 0)));
            }

            var pages = new Task[reads.Count];
            for (var i = 0; i < reads.Count; i++)
            {
                pages[i] = reads[i].Page;
            }

            await AllDoneAsync(pages, cancellationToken).ConfigureAwait(false);
            foreach (var (tag, set, withLeases, read) in reads)
            {
                if (Refusal(read, tag, isTag: true, refused))
                {
                    continue;
                }

                var (cursor, members) = Page(read.Result);
                AddMembers(names, members, withLeases);
                if (members.Length > 0)
                {
                    removals.Add((tag, set, members));
                }

                if (!IsLastPage(cursor))
                {
                    (rest ??= []).Add(new TagScan(this, db, tag, set, withLeases, cursor).NextPageAsync);
                }
            }
        }

        var found = await DeleteAsync(db, ToList(names), removals, refused, null, cancellationToken).ConfigureAwait(false);
        return new RegionApplyResult(names.Count, found, refused.Count > 0 ? refused : null) { Continuations = rest };
    }

    /// <summary>
    /// Deletes the names (each with its lease key where asked) and removes each tag's members from its set, all
    /// pipelined; returns how many were cached. A refused command of many names is sent again name by name; a refused
    /// SREM refuses its tag; any other failure is thrown once every command has finished (and <paramref name="alongside"/>).
    /// </summary>
    private async Task<long> DeleteAsync(
        IDatabase db, List<DeleteName> names, List<(string Tag, RedisKey Set, RedisValue[] Members)> removals, List<RefusedName> refused,
        Task? alongside, CancellationToken cancellationToken)
    {
        var cluster = IsCluster;
        var commands = Commands(names, _keyPrefix, _prefix, _keysPerCommand, cluster ? _redis.HashSlot : null, out var order);
        var deletes = new Task<RedisResult>[commands.Count];
        var all = new Task[commands.Count + removals.Count + (alongside is null ? 0 : 1)];
        for (var i = 0; i < commands.Count; i++)
        {
            all[i] = deletes[i] = db.ExecuteAsync(_command, commands[i].Arguments);
        }

        var srem = new Task<long>[removals.Count];
        for (var i = 0; i < removals.Count; i++)
        {
            all[commands.Count + i] = srem[i] = db.SetRemoveAsync(removals[i].Set, removals[i].Members);
        }

        if (alongside is not null)
        {
            all[^1] = alongside;
        }

        await AllDoneAsync(all, cancellationToken).ConfigureAwait(false);
        long found = 0;
        List<DeleteCall>? refusedCommands = null;
        for (var i = 0; i < deletes.Length; i++)
        {
            var result = deletes[i];
            if (result.IsCompletedSuccessfully)
            {
                found += (long)result.Result;
            }
            else if (Refusal(result, "", isTag: false, null))
            {
                (refusedCommands ??= []).Add(commands[i]);
            }
        }

        for (var i = 0; i < srem.Length; i++)
        {
            Refusal(srem[i], removals[i].Tag, isTag: true, refused);
        }

        if (refusedCommands is not null)
        {
            // The server refused a command of many names: send each name (with its lease key) alone to find the ones it refuses.
            found += await DeleteOneByOneAsync(db, refusedCommands, order, names, refused, cancellationToken).ConfigureAwait(false);
        }

        if (_waitReplicas > 0 && commands.Count + removals.Count > 0)
        {
            var written = commands.Select(d => (RedisKey)d.Arguments[0]).Concat(removals.Select(r => r.Set));
            await WaitForReplicasAsync(written, cluster, cancellationToken).ConfigureAwait(false);
        }

        return found;
    }

    /// <summary>
    /// <c>WAIT WaitReplicas WaitTimeout</c> on every node that received this attempt's writes (one on a standalone server
    /// or the primary Sentinel named; on a Cluster, each node owning a slot written): WAIT counts the replicas that
    /// acknowledged every write made before it on the same connection, which is the one the deletes went through.
    /// Fewer acknowledgements fail the attempt (<see cref="ReplicasNotAcknowledgedException"/>, transient).
    /// </summary>
    private async Task WaitForReplicasAsync(IEnumerable<RedisKey> written, bool cluster, CancellationToken cancellationToken)
    {
        IEnumerable<IServer> nodes = cluster
            ? written.Select(key => _redis.GetServer(key)).DistinctBy(server => server.EndPoint)
            : [_redis.GetServer(default(RedisKey))];
        var milliseconds = (long)Math.Ceiling(_waitTimeout.TotalMilliseconds);
        var waits = nodes.Select(node => (Node: node, Result: node.ExecuteAsync("WAIT", _waitReplicas, milliseconds))).ToList();
        await AllDoneAsync([.. waits.Select(w => w.Result)], cancellationToken).ConfigureAwait(false);
        foreach (var (node, result) in waits)
        {
            var acknowledged = (long)await result.ConfigureAwait(false); // a failed WAIT (connection, timeout) throws here
            if (acknowledged < _waitReplicas)
            {
                var endpoint = node.EndPoint.ToString() ?? "?";
                _events.Publish(new RegionReplicaAcksMissing(_region, endpoint, acknowledged, _waitReplicas));
                throw new ReplicasNotAcknowledgedException(endpoint, acknowledged, _waitReplicas, _waitTimeout);
            }
        }
    }

    /// <summary>One page of a tag set, from <paramref name="cursor"/>: <c>SSCAN set cursor COUNT ScanPageSize</c>.</summary>
    private static Task<RedisResult> Scan(IDatabase db, RedisKey set, RedisValue cursor) =>
        db.ExecuteAsync("SSCAN", set, cursor, "COUNT", ScanPageSize);

    private static (RedisValue Cursor, RedisValue[] Members) Page(RedisResult page)
    {
        var parts = (RedisResult[])page!;
        return ((RedisValue)parts[0], (RedisValue[])parts[1]!);
    }

    private static bool IsLastPage(RedisValue cursor) => cursor == 0;

    private static void AddMembers(Dictionary<string, bool> names, RedisValue[] members, bool withLeases)
    {
        foreach (var member in members)
        {
            AddName(names, (string)member!, withLeases);
        }
    }

    /// <summary>
    /// The rest of a tag set larger than a page, read and deleted a page per attempt (each its own attempt in the region's
    /// resilience pipeline, so a set of any size stays far from the attempt timeout and only a page or two of its names are
    /// held). Deleted members are removed from the set, so a repeated page or a replayed batch goes on where it was.
    /// </summary>
    private sealed class TagScan(RedisTarget target, IDatabase db, string tag, RedisKey set, bool withLeases, RedisValue cursor)
    {
        private RedisValue _cursor = cursor;
        private Task<RedisResult>? _next;

        public async Task<RegionApplyResult> NextPageAsync(CancellationToken cancellationToken)
        {
            // The page read while the previous one was deleted, or (first page of this scan, or a repeated attempt) read now.
            var read = _next ?? Scan(db, set, _cursor);
            _next = null;
            await AllDoneAsync([read], cancellationToken).ConfigureAwait(false);
            var refused = new List<RefusedName>();
            if (target.Refusal(read, tag, isTag: true, refused))
            {
                return new RegionApplyResult(0, 0, refused);
            }

            var (cursor, members) = Page(read.Result);
            var names = new Dictionary<string, bool>(members.Length, StringComparer.Ordinal);
            AddMembers(names, members, withLeases);
            var removals = members.Length > 0 ? new List<(string, RedisKey, RedisValue[])> { (tag, set, members) } : [];
            var next = IsLastPage(cursor) ? null : Scan(db, set, cursor);
            var found = await target.DeleteAsync(db, ToList(names), removals, refused, next, cancellationToken).ConfigureAwait(false);
            var setRefused = refused.Any(r => r.IsTag);
            if (next is not null && !setRefused)
            {
                // Only now that this page is applied: a repeated attempt re-reads this page instead.
                _cursor = cursor;
                _next = next.IsCompletedSuccessfully ? next : null;
            }

            return new RegionApplyResult(names.Count, found, refused.Count > 0 ? refused : null)
            {
                Continuations = next is null || setRefused ? null : [NextPageAsync],
            };
        }
    }

    private async Task<long> DeleteOneByOneAsync(
        IDatabase db, List<DeleteCall> commands, int[]? order, List<DeleteName> names, List<RefusedName> refused, CancellationToken cancellationToken)
    {
        var singles = new List<(string Name, Task<RedisResult> Result)>();
        foreach (var command in commands)
        {
            for (var i = command.FirstName; i < command.FirstName + command.NameCount; i++)
            {
                var name = names[order is null ? i : order[i]];
                foreach (var single in Commands([name], _keyPrefix, _prefix, 1, null, out _))
                {
                    singles.Add((name.Name, db.ExecuteAsync(_command, single.Arguments)));
                }
            }
        }

        await AllDoneAsync([.. singles.Select(s => s.Result)], cancellationToken).ConfigureAwait(false);
        long found = 0;
        foreach (var (name, result) in singles)
        {
            if (result.IsCompletedSuccessfully)
            {
                found += (long)result.Result;
            }
            else
            {
                Refusal(result, name, isTag: false, refused);
            }
        }

        return found;
    }

    /// <summary>
    /// Whether the finished command failed with a permanent error, which is then recorded against <paramref name="name"/>
    /// (when <paramref name="refused"/> is given). Any other failure is thrown: the attempt fails.
    /// </summary>
    private bool Refusal(Task command, string name, bool isTag, List<RefusedName>? refused)
    {
        if (command.IsCompletedSuccessfully)
        {
            return false;
        }

        var error = command.Exception?.InnerException ?? new TaskCanceledException(command);
        if (!_errors.IsRefusal(error, out var line))
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }

        refused?.Add(new RefusedName(name, isTag, line));
        return true;
    }

    /// <summary>Waits until every command has finished, failed or not, so that each one's outcome can be read (and none goes unobserved).</summary>
    private static async Task AllDoneAsync(Task[] commands, CancellationToken cancellationToken)
    {
        // A failed command is read command by command by the caller, so it is not thrown here.
        var all = Task.WhenAll(commands);
        await all.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!all.IsCompleted)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    // The region owns the connection (RegionInvalidator disposes it); nothing else to let go of.
    public void Dispose()
    {
    }

    // Standalone servers take any keys together; grouping by slot there would only shrink the commands.
    private bool IsCluster
    {
        get
        {
            foreach (var server in _redis.GetServers())
            {
                if (server.ServerType == ServerType.Cluster)
                {
                    return true;
                }
            }

            return false;
        }
    }

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
        IReadOnlyDictionary<string, bool> names, string keyPrefix, RedisKey prefix, int keysPerCommand, Func<RedisKey, int>? slotOf) =>
        Commands(ToList(names), keyPrefix, prefix, keysPerCommand, slotOf, out _).Select(c => c.Arguments);

    /// <summary>
    /// The delete commands, each knowing its names: positions <see cref="DeleteCall.FirstName"/> on in
    /// <paramref name="order"/> (indexes into <paramref name="names"/>), or in <paramref name="names"/> itself when
    /// <paramref name="order"/> is null (no cluster: the names in their own order).
    /// </summary>
    private static List<DeleteCall> Commands(
        List<DeleteName> names, string keyPrefix, RedisKey prefix, int keysPerCommand, Func<RedisKey, int>? slotOf, out int[]? order)
    {
        int[]? groupEnds = null;
        order = slotOf is null ? null : SlotOrder(names, prefix, slotOf, out groupEnds);
        var commands = new List<DeleteCall>(names.Count / Math.Max(keysPerCommand, 1) + 1);
        var command = new List<object>(Math.Min(keysPerCommand + 1, names.Count * 2));
        var first = 0;
        var group = 0;
        for (var position = 0; position < names.Count; position++)
        {
            var (name, withLease) = names[order is null ? position : order[position]];
            var prefixed = withLease ? keyPrefix + name : null;
            var lease = prefixed is not null && LeaseProtocol.TryGetLeaseKey(prefixed, out var leaseKey) ? leaseKey : null;
            if (command.Count > 0 && command.Count + (lease is null ? 1 : 2) > keysPerCommand)
            {
                commands.Add(new DeleteCall([.. command], first, position - first));
                command.Clear();
                first = position;
            }

            command.Add(prefixed is not null ? (RedisKey)prefixed : ((RedisKey)name).Prepend(prefix));
            if (lease is not null)
            {
                command.Add((RedisKey)lease);
            }

            // A slot's last name ends its command: a multi-key command stays in one slot.
            if (order is not null && position + 1 == groupEnds![group])
            {
                commands.Add(new DeleteCall([.. command], first, position + 1 - first));
                command.Clear();
                first = position + 1;
                group++;
            }
        }

        if (command.Count > 0)
        {
            commands.Add(new DeleteCall([.. command], first, names.Count - first));
        }

        return commands;
    }

    /// <summary>
    /// The names' indexes grouped by hash slot, the slots in the order of their first name and the names of a slot in
    /// their own order; <paramref name="groupEnds"/> holds where each slot's names end.
    /// </summary>
    private static int[] SlotOrder(List<DeleteName> names, RedisKey prefix, Func<RedisKey, int> slotOf, out int[] groupEnds)
    {
        var groupOf = new int[names.Count];
        var groups = new Dictionary<int, int>();
        var sizes = new List<int>();
        for (var i = 0; i < names.Count; i++)
        {
            var slot = slotOf(((RedisKey)names[i].Name).Prepend(prefix));
            if (!groups.TryGetValue(slot, out var g))
            {
                groups[slot] = g = sizes.Count;
                sizes.Add(0);
            }

            groupOf[i] = g;
            sizes[g]++;
        }

        groupEnds = new int[sizes.Count];
        var starts = new int[sizes.Count];
        for (int g = 0, end = 0; g < sizes.Count; g++)
        {
            starts[g] = end;
            end += sizes[g];
            groupEnds[g] = end;
        }

        var order = new int[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            order[starts[groupOf[i]]++] = i;
        }

        return order;
    }

    /// <summary>
    /// The keys as they are when they are known to be distinct (the batch's own set, ordinal): the target then needs no
    /// set of its own to send each name once. Null otherwise (a dead-lettered batch's list).
    /// </summary>
    private static HashSet<string>? DistinctNames(IReadOnlyCollection<string> keys) =>
        keys is HashSet<string> set && (ReferenceEquals(set.Comparer, StringComparer.Ordinal) || ReferenceEquals(set.Comparer, EqualityComparer<string>.Default))
            ? set
            : null;

    private static List<DeleteName> ToList(IReadOnlyDictionary<string, bool> names)
    {
        var list = new List<DeleteName>(names.Count);
        foreach (var (name, withLease) in names)
        {
            list.Add(new DeleteName(name, withLease));
        }

        return list;
    }

    /// <summary>A name to delete (before the region's prefix), and whether its lease key goes with it.</summary>
    private readonly record struct DeleteName(string Name, bool WithLease);

    /// <summary>One delete command's arguments, and where its names are in the order the commands were made.</summary>
    private readonly record struct DeleteCall(object[] Arguments, int FirstName, int NameCount);
}
