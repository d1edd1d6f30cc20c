using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Invalidator.Benchmarks.Races;

/// <summary>
/// A Redis primary, its replica (<c>--replicaof</c>) and three Sentinels (quorum 2, a primary down after 1 s), all
/// processes of the benchmark ended by PID. The failover race's moves: freeze the replica (SIGSTOP, and its connection
/// dropped on the primary: a stopped process's socket still takes the stream), kill the primary (SIGKILL), thaw the
/// replica and wait until every Sentinel names it the primary, restart the old primary empty as a replica of the new
/// one (so a <c>WAIT 1</c> can be acknowledged again).
/// </summary>
internal sealed class SentinelTopology : IAsyncDisposable
{
    private const int SentinelCount = 3;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly List<RedisServerProcess> _sentinels = [];
    private ConnectionMultiplexer? _admin;
    private ConnectionMultiplexer? _sentinelAdmin;

    private SentinelTopology(RedisServerProcess primary, RedisServerProcess replica, string serviceName)
    {
        Primary = primary;
        Replica = replica;
        ServiceName = serviceName;
    }

    public RedisServerProcess Primary { get; }

    public RedisServerProcess Replica { get; }

    public string ServiceName { get; }

    /// <summary>The Sentinels' addresses and <c>serviceName=</c>: the region's <c>Redis</c>.</summary>
    public string RegionRedis => string.Join(",", _sentinels.Select(s => s.ConnectionString)) + $",serviceName={ServiceName}";

    /// <summary>The first primary, addressed as itself (not routed by role).</summary>
    public IServer PrimaryServer => _admin!.GetServer(Primary.ConnectionString);

    /// <summary>The replica (after the failover, the primary), addressed as itself.</summary>
    public IServer ReplicaServer => _admin!.GetServer(Replica.ConnectionString);

    public static async Task<SentinelTopology> StartAsync(string serviceName)
    {
        var primary = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        var replica = await RedisServerProcess.StartAsync("--replicaof", "127.0.0.1", primary.Port.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        var topology = new SentinelTopology(primary, replica, serviceName);
        try
        {
            for (var i = 0; i < SentinelCount; i++)
            {
                topology._sentinels.Add(await RedisServerProcess.StartSentinelAsync(_ =>
                [
                    $"sentinel monitor {serviceName} 127.0.0.1 {primary.Port} 2",
                    $"sentinel down-after-milliseconds {serviceName} 1000",
                    $"sentinel failover-timeout {serviceName} 5000",
                    $"sentinel parallel-syncs {serviceName} 1",
                ]).ConfigureAwait(false));
            }

            var options = ConfigurationOptions.Parse($"{primary.ConnectionString},{replica.ConnectionString},allowAdmin=true");
            options.AbortOnConnectFail = false;
            options.BacklogPolicy = BacklogPolicy.FailFast;
            options.AsyncTimeout = 2000;
            topology._admin = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
            var sentinels = ConfigurationOptions.Parse(string.Join(",", topology._sentinels.Select(s => s.ConnectionString)));
            sentinels.CommandMap = CommandMap.Sentinel;
            sentinels.AbortOnConnectFail = false;
            sentinels.AllowAdmin = true;
            topology._sentinelAdmin = await ConnectionMultiplexer.ConnectAsync(sentinels).ConfigureAwait(false);
            await topology.WaitUntilReplicatingAsync().ConfigureAwait(false);
            await Until(topology.SentinelsWatchAsync, "every Sentinel sees the primary, its replica and the other Sentinels").ConfigureAwait(false);
            return topology;
        }
        catch
        {
            await topology.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Waits until the replica has every write the primary made so far.</summary>
    public Task WaitUntilReplicatingAsync() => Until(
        async () => (long)await PrimaryServer.ExecuteAsync("WAIT", 1, 100).ConfigureAwait(false) >= 1,
        "the replica acknowledges the primary's writes");

    /// <summary>SIGSTOPs the replica and drops its connection on the primary: nothing written from now on reaches it.</summary>
    public async Task FreezeReplicaAsync()
    {
        await Replica.SignalAsync("STOP").ConfigureAwait(false);
        await PrimaryServer.ExecuteAsync("CLIENT", "KILL", "TYPE", "replica").ConfigureAwait(false);
        await Until(
            async () => (await PrimaryServer.InfoRawAsync("replication").ConfigureAwait(false))!.Contains("connected_slaves:0", StringComparison.Ordinal),
            "the primary has no replica connected").ConfigureAwait(false);
    }

    /// <summary>SIGKILLs the primary, resumes the replica and waits until every Sentinel names it the primary and it is one.</summary>
    public async Task FailOverAsync()
    {
        await Primary.KillAsync().ConfigureAwait(false);
        await Replica.SignalAsync("CONT").ConfigureAwait(false);
        await Until(
            async () => await AgreedPrimaryAsync().ConfigureAwait(false) == Replica.ConnectionString
                && (await ReplicaServer.ExecuteAsync("ROLE").ConfigureAwait(false))[0].ToString() == "master",
            $"every Sentinel names {Replica.ConnectionString} the primary of {ServiceName}, and it is one").ConfigureAwait(false);
    }

    /// <summary>
    /// Starts the killed primary again, empty, as a replica of the new primary (what Sentinel would make of it too,
    /// once it looked, up to 10 s later), and waits until it replicates: a <c>WAIT 1</c> can be acknowledged again.
    /// </summary>
    public async Task RestartOldPrimaryAsync()
    {
        await Primary.RestartAsync("--replicaof", "127.0.0.1", Replica.Port.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        // INFO, not a WAIT of our own: the WAITs the new primary counts are the worker's.
        await Until(
            async () => (await ReplicaServer.InfoRawAsync("replication").ConfigureAwait(false))!.Contains("state=online", StringComparison.Ordinal),
            "the restarted primary replicates the new one").ConfigureAwait(false);
    }

    /// <summary><c>WAIT</c> commands a server answered so far (<c>INFO commandstats</c>).</summary>
    public static async Task<long> WaitCallsAsync(IServer server)
    {
        var info = (await server.InfoRawAsync("commandstats").ConfigureAwait(false)) ?? "";
        var line = info.Split('\n').FirstOrDefault(l => l.StartsWith("cmdstat_wait:", StringComparison.Ordinal));
        var calls = line?.Split(':', 2)[1].Split(',').FirstOrDefault(f => f.StartsWith("calls=", StringComparison.Ordinal));
        return calls is null ? 0 : long.Parse(calls["calls=".Length..], CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        if (_sentinelAdmin is not null)
        {
            await _sentinelAdmin.DisposeAsync().ConfigureAwait(false);
        }

        if (_admin is not null)
        {
            await _admin.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var sentinel in _sentinels)
        {
            await sentinel.DisposeAsync().ConfigureAwait(false);
        }

        await Replica.DisposeAsync().ConfigureAwait(false);
        await Primary.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The primary's "host:port" as every Sentinel names it (null while they disagree).</summary>
    private async Task<string?> AgreedPrimaryAsync()
    {
        string? agreed = null;
        foreach (var sentinel in _sentinels)
        {
            var reply = (RedisResult[]?)await _sentinelAdmin!.GetServer(sentinel.ConnectionString)
                .ExecuteAsync("SENTINEL", "get-master-addr-by-name", ServiceName).ConfigureAwait(false);
            var address = reply is { Length: 2 } ? $"{reply[0]}:{reply[1]}" : null;
            if (address is null || (agreed is not null && agreed != address))
            {
                return null;
            }

            agreed = address;
        }

        return agreed;
    }

    private async Task<bool> SentinelsWatchAsync()
    {
        foreach (var sentinel in _sentinels)
        {
            var fields = (RedisResult[])(await _sentinelAdmin!.GetServer(sentinel.ConnectionString).ExecuteAsync("SENTINEL", "master", ServiceName).ConfigureAwait(false))!;
            var info = Enumerable.Range(0, fields.Length / 2).ToDictionary(i => fields[2 * i].ToString(), i => fields[(2 * i) + 1].ToString());
            if (info.GetValueOrDefault("num-slaves") != "1" || info.GetValueOrDefault("num-other-sentinels") != (SentinelCount - 1).ToString(CultureInfo.InvariantCulture))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Polls <paramref name="condition"/> (errors count as not yet) until it holds, or throws after the deadline.</summary>
    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < Deadline)
        {
            try
            {
                if (await condition().ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException or InvalidCastException)
            {
                last = e;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        throw new TimeoutException($"not within {Deadline.TotalSeconds:0} s: {what}{(last is null ? "" : $" (last error: {last.Message})")}");
    }
}
