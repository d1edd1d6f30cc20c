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
public sealed class ReplicatedPostgresFixture : IAsyncLifetime
{
    private ReplicatedPostgres? _servers;

    public ReplicatedPostgres Servers => _servers ?? throw new InvalidOperationException("The fixture is not initialized");

    public async Task InitializeAsync() => _servers = await ReplicatedPostgres.StartNewAsync().ConfigureAwait(false);

    public async Task DisposeAsync()
    {
        if (_servers is not null)
        {
            await _servers.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Tests that pause and resume the standby's replay: <c>[Collection(ReplicatedPostgresCollection.Name)]</c>, one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class ReplicatedPostgresCollection : ICollectionFixture<ReplicatedPostgresFixture>
{
    public const string Name = "postgres-replicas";
}
