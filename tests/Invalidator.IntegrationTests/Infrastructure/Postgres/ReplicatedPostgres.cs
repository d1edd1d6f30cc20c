using Invalidator.IntegrationTests.Infrastructure.Redis;
using Npgsql;

namespace Invalidator.IntegrationTests.Infrastructure.Postgres;

/// <summary>
/// A Postgres primary with a streaming standby (<c>pg_basebackup -R</c>), both local processes from the apt package,
/// each in its own temp directory and port, ended by PID. The standby's replay can be paused and resumed
/// (<c>pg_wal_replay_pause()</c>), which is the controllable replay lag of the read-replica tests. Process servers
/// only: the apt package is what CI installs (.ci/run); without it this fails with what to install, never skips.
/// </summary>
public sealed class ReplicatedPostgres : IAsyncDisposable
{
    private readonly ProcessPostgresServer _primary;
    private readonly ProcessPostgresServer _standby;

    private ReplicatedPostgres(ProcessPostgresServer primary, ProcessPostgresServer standby)
    {
        _primary = primary;
        _standby = standby;
    }

    public PostgresServer Primary => _primary;

    public PostgresServer Standby => _standby;

    public static async Task<ReplicatedPostgres> StartNewAsync()
    {
        var primary = await ProcessPostgresServer.CreateAsync("logical").ConfigureAwait(false);
        try
        {
            var standby = await ProcessPostgresServer.CreateStandbyAsync(primary).ConfigureAwait(false);
            var pair = new ReplicatedPostgres(primary, standby);
            await pair.AssertStreamingAsync().ConfigureAwait(false);
            return pair;
        }
        catch
        {
            await primary.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Stops applying WAL on the standby (it keeps receiving it): its rows stay as they were. A pause is only requested
    /// until the standby's startup process reaches its next record, so a record is written on the primary until the
    /// standby says it has paused: from then on no change of the primary is applied.
    /// </summary>
    public async Task PauseReplayAsync()
    {
        await Standby.ExecuteAsync("postgres", "SELECT pg_wal_replay_pause()").ConfigureAwait(false);
        await Eventually.AssertAsync(
            async () =>
            {
                await Primary.ExecuteAsync("postgres", "SELECT pg_logical_emit_message(false, 'invalidator-tests', 'pause')").ConfigureAwait(false);
                return await Standby.ScalarAsync<string>("postgres", "SELECT pg_get_wal_replay_pause_state()").ConfigureAwait(false) == "paused";
            },
            TimeSpan.FromSeconds(30),
            "the standby's replay paused").ConfigureAwait(false);
    }

    /// <summary>
    /// The standby applies each commit <paramref name="delay"/> after it was made (<c>recovery_min_apply_delay</c>; zero:
    /// at once): a replica that lags by a steady amount, as under load. Written to the standby's configuration and reloaded.
    /// </summary>
    public async Task SetApplyDelayAsync(TimeSpan delay)
    {
        await _standby.AppendConfigurationAsync($"recovery_min_apply_delay = '{(long)delay.TotalMilliseconds}ms'").ConfigureAwait(false);
        await Eventually.AssertAsync(
            async () => await Standby.ScalarAsync<string>("postgres", "SHOW recovery_min_apply_delay").ConfigureAwait(false) == (delay == TimeSpan.Zero ? "0" : $"{(long)delay.TotalMilliseconds}ms"),
            TimeSpan.FromSeconds(30),
            "the standby took the apply delay").ConfigureAwait(false);
    }

    /// <summary>Applies WAL again, from where it paused.</summary>
    public Task ResumeReplayAsync() => Standby.ExecuteAsync("postgres", "SELECT pg_wal_replay_resume()");

    /// <summary>The primary's current WAL position (<c>pg_current_wal_lsn()</c>).</summary>
    public async Task<ulong> PrimaryLsnAsync() =>
        (ulong)await Primary.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("postgres", "SELECT pg_current_wal_lsn()").ConfigureAwait(false);

    /// <summary>The standby is in recovery and the primary has a streaming walsender for it.</summary>
    private async Task AssertStreamingAsync()
    {
        Assert.True(await Standby.ScalarAsync<bool>("postgres", "SELECT pg_is_in_recovery()").ConfigureAwait(false), "the standby is in recovery");
        await Eventually.AssertAsync(
            async () => await Primary.ScalarAsync<long>("postgres", "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").ConfigureAwait(false) == 1,
            TimeSpan.FromSeconds(30),
            "the primary streams to the standby").ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _standby.DisposeAsync().ConfigureAwait(false);
        await _primary.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>The primary and standby for the read-replica tests, shared by the classes of <see cref="ReplicatedPostgresCollection"/>.</summary>
public sealed class ReplicatedPostgresFixture : IAsyncLifetime, IDirectServers
{
    private ReplicatedPostgres? _servers;
    private RedisServers? _redis;

    public ReplicatedPostgres Servers => _servers ?? throw new InvalidOperationException("The fixture is not initialized");

    /// <summary>The worker reads the primary's slot; the readers of the replica race read the standby.</summary>
    public PostgresServer Postgres => Servers.Primary;

    /// <summary>Two regions for the worker tests on the pair (names of their own: see <see cref="PostgresFixture.Regions"/>).</summary>
    public IReadOnlyList<string> Regions { get; } = ["rpeast", "rpwest"];

    public RedisServers Redis => _redis ?? throw new InvalidOperationException("The fixture is not initialized");

    public async Task InitializeAsync()
    {
        var servers = ReplicatedPostgres.StartNewAsync();
        var redis = RedisServers.StartNewAsync(Regions.Count);
        try
        {
            await Task.WhenAll(servers, redis).ConfigureAwait(false);
        }
        finally
        {
            _servers = servers.IsCompletedSuccessfully ? servers.Result : null;
            _redis = redis.IsCompletedSuccessfully ? redis.Result : null;
        }
    }

    public async Task DisposeAsync()
    {
        if (_servers is not null)
        {
            await _servers.DisposeAsync().ConfigureAwait(false);
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Tests that pause and resume the standby's replay: <c>[Collection(ReplicatedPostgresCollection.Name)]</c>, one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class ReplicatedPostgresCollection : ICollectionFixture<ReplicatedPostgresFixture>
{
    public const string Name = "postgres-replicas";
}
