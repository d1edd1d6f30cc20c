using System.Globalization;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Infrastructure.Redis;

/// <summary>
/// A real Redis primary with one replica (<c>redis-server --replicaof</c>), local processes owned by this object. The
/// replica can be frozen so that it receives nothing more: SIGSTOP alone is not enough (the kernel still takes the
/// replication stream into its socket), so the primary also drops the replica's connection (<c>CLIENT KILL TYPE replica</c>).
/// </summary>
public sealed class ReplicatedRedis : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly ProcessRedisServers _primary;
    private readonly ProcessRedisServers _replica;
    private readonly ConnectionMultiplexer _admin;

    private ReplicatedRedis(ProcessRedisServers primary, ProcessRedisServers replica, ConnectionMultiplexer admin)
    {
        _primary = primary;
        _replica = replica;
        _admin = admin;
    }

    /// <summary>The primary's "host:port": the region's configuration string.</summary>
    public string Primary => _primary.ConnectionString(0);

    public string Replica => _replica.ConnectionString(0);

    public static async Task<ReplicatedRedis> StartAsync()
    {
        var primary = await ProcessRedisServers.CreateAsync(1).ConfigureAwait(false);
        ProcessRedisServers? replica = null;
        try
        {
            var primaryPort = primary.Port(0).ToString(CultureInfo.InvariantCulture);
            replica = await ProcessRedisServers.CreateAsync(1, _ => ["--replicaof", "127.0.0.1", primaryPort]).ConfigureAwait(false);
            var options = ConfigurationOptions.Parse($"{primary.ConnectionString(0)},{replica.ConnectionString(0)},allowAdmin=true");
            options.AbortOnConnectFail = false;
            options.BacklogPolicy = BacklogPolicy.FailFast;
            options.AsyncTimeout = 2000;
            var pair = new ReplicatedRedis(primary, replica, await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false));
            await pair.WaitUntilReplicatingAsync().ConfigureAwait(false);
            return pair;
        }
        catch
        {
            if (replica is not null)
            {
                await replica.DisposeAsync().ConfigureAwait(false);
            }

            await primary.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Commands on the primary (its own server, not routed by role).</summary>
    public IServer PrimaryServer => _admin.GetServer(Primary);

    /// <summary>Commands on the replica; do not use while it is frozen.</summary>
    public IServer ReplicaServer => _admin.GetServer(Replica);

    /// <summary>Waits until the replica is linked and has every write the primary made so far.</summary>
    public async Task WaitUntilReplicatingAsync()
    {
        await Eventually.AssertAsync(
            async () => (long)await PrimaryServer.ExecuteAsync("WAIT", 1, 100).ConfigureAwait(false) >= 1,
            Deadline,
            "the replica acknowledges the primary's writes").ConfigureAwait(false);
    }

    /// <summary>SIGSTOPs the replica and drops its connection on the primary: nothing written from now on reaches it.</summary>
    public async Task FreezeReplicaAsync()
    {
        await _replica.SignalAsync(0, "STOP").ConfigureAwait(false);
        await PrimaryServer.ExecuteAsync("CLIENT", "KILL", "TYPE", "replica").ConfigureAwait(false);
        await Eventually.AssertAsync(
            async () => (await PrimaryServer.InfoRawAsync("replication").ConfigureAwait(false))!.Contains("connected_slaves:0", StringComparison.Ordinal),
            Deadline,
            "the primary has no replica connected").ConfigureAwait(false);
    }

    /// <summary>SIGCONTs the replica: it reconnects and resynchronises if its primary still runs.</summary>
    public Task ThawReplicaAsync() => _replica.SignalAsync(0, "CONT");

    /// <summary>SIGKILLs the primary, as a crash would: what its replica did not receive is lost.</summary>
    public Task KillPrimaryAsync() => _primary.KillAsync(0);

    /// <summary>Starts the killed primary again on its port, empty (no persistence), with no <c>--replicaof</c> of its own.</summary>
    public Task RestartPrimaryAsync() => _primary.StartAsync(0);

    /// <summary>How many of <paramref name="keys"/> the first primary holds (<c>EXISTS</c>).</summary>
    public async Task<long> PrimaryHoldsAsync(IEnumerable<string> keys) =>
        (long)await PrimaryServer.ExecuteAsync("EXISTS", [.. keys.Select(k => (object)(RedisKey)k)]).ConfigureAwait(false);

    /// <summary>How many of <paramref name="keys"/> the (thawed) replica holds, promoted or not.</summary>
    public async Task<long> ReplicaHoldsAsync(IEnumerable<string> keys) =>
        (long)await ReplicaServer.ExecuteAsync("EXISTS", [.. keys.Select(k => (object)(RedisKey)k)]).ConfigureAwait(false);

    /// <summary>Whether the (thawed) replica holds <paramref name="key"/>.</summary>
    public async Task<bool> ReplicaHasAsync(RedisKey key) =>
        (long)await ReplicaServer.ExecuteAsync("EXISTS", key).ConfigureAwait(false) == 1;

    public async ValueTask DisposeAsync()
    {
        await _admin.DisposeAsync().ConfigureAwait(false);
        await _replica.DisposeAsync().ConfigureAwait(false);
        await _primary.DisposeAsync().ConfigureAwait(false);
    }
}
