using System.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Postgres;
using Invalidator.Worker.Consistency;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Invalidator.IntegrationTests.Consistency;

/// <summary>
/// The read-replica wait on a real primary and streaming standby: a wait for the primary's position does not end while
/// the standby's replay is paused, ends once it resumes, and ends at <c>ReplicaWaitMax</c> (counted as expired) for a
/// standby paused past the bound or one that is down. The status reads the same events the metrics do.
/// </summary>
[Collection(ReplicatedPostgresCollection.Name)]
public sealed class ReplicaLagMonitorTests(ReplicatedPostgresFixture fixture)
{
    private const string Standby = "standby";

    private ReplicatedPostgres Servers => fixture.Servers;

    private static WorkerStatus NewStatus() =>
        new(Microsoft.Extensions.Options.Options.Create(new InvalidatorOptions()), TimeProvider.System);

    private ReplicaLagMonitor NewMonitor(WorkerStatus status, TimeSpan waitMax, params (string Name, string ConnectionString)[] extra)
    {
        var replicas = new Dictionary<string, string> { [Standby] = Servers.Standby.ConnectionString() };
        foreach (var (name, connectionString) in extra)
        {
            replicas[name] = connectionString;
        }

        var monitor = new ReplicaLagMonitor(replicas, waitMax, new WorkerEvents([status]), NullLogger.Instance, TimeProvider.System);
        monitor.Start();
        return monitor;
    }

    private async Task<ulong> ChangeOnPrimaryAsync()
    {
        await Servers.Primary.ExecuteAsync("postgres", "CREATE TABLE IF NOT EXISTS replica_wait (id serial PRIMARY KEY, at timestamptz DEFAULT now())");
        // A synchronous commit, as a change Debezium or the direct source saw has (they see only flushed commits): the
        // test servers run with synchronous_commit=off, where pg_current_wal_lsn() (the write position) may be before
        // a commit that returned.
        await Servers.Primary.ExecuteAsync("postgres", "SET synchronous_commit = on; INSERT INTO replica_wait DEFAULT VALUES");
        await using var primary = new PrimaryWalPosition(Servers.Primary.ConnectionString(), TimeProvider.System);
        return await primary.ReadSinceAsync(TimeProvider.System.GetTimestamp(), CancellationToken.None);
    }

    [Fact]
    public async Task A_wait_for_the_primarys_position_holds_while_replay_is_paused_and_ends_when_it_resumes()
    {
        var status = NewStatus();
        await using var monitor = NewMonitor(status, TimeSpan.FromSeconds(60));
        Assert.Empty(await monitor.WaitForReplayAsync(await ChangeOnPrimaryAsync(), CancellationToken.None)); // caught up first

        await Servers.PauseReplayAsync();
        try
        {
            var rows = await Servers.Primary.ScalarAsync<long>("postgres", "SELECT count(*) FROM replica_wait");
            var lsn = await ChangeOnPrimaryAsync();
            var wait = monitor.WaitForReplayAsync(lsn, CancellationToken.None).AsTask();

            await Task.Delay(TimeSpan.FromSeconds(1.5));
            Assert.False(wait.IsCompleted, "the wait ended while the standby's replay was paused");
            Assert.Equal(rows, await Servers.Standby.ScalarAsync<long>("postgres", "SELECT count(*) FROM replica_wait")); // the old rows: what a reader of the replica sees
            var paused = Assert.Single(status.Replicas());
            Assert.True(paused.Reachable);
            Assert.True(paused.LagSeconds > 0.5, $"replay lag while paused: {paused.LagSeconds}");
            Assert.True(monitor.Replayed(Standby) < lsn);

            await Servers.ResumeReplayAsync();
            var clock = Stopwatch.StartNew();
            Assert.Empty(await wait.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the wait ended {clock.Elapsed} after replay resumed");
            Assert.Equal(rows + 1, await Servers.Standby.ScalarAsync<long>("postgres", "SELECT count(*) FROM replica_wait"));
            Assert.True(monitor.Replayed(Standby) >= lsn);
            Assert.Equal(0, Assert.Single(status.Replicas()).WaitsExpired);
        }
        finally
        {
            await Servers.ResumeReplayAsync();
        }
    }

    [Fact]
    public async Task A_standby_paused_past_ReplicaWaitMax_ends_the_wait_at_the_bound_counted_as_expired()
    {
        var status = NewStatus();
        await using var monitor = NewMonitor(status, TimeSpan.FromSeconds(1));
        Assert.Empty(await monitor.WaitForReplayAsync(await ChangeOnPrimaryAsync(), CancellationToken.None));

        await Servers.PauseReplayAsync();
        try
        {
            var lsn = await ChangeOnPrimaryAsync();
            var clock = Stopwatch.StartNew();
            var expired = await monitor.WaitForReplayAsync(lsn, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal([Standby], expired);
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
            Assert.Equal(1, Assert.Single(status.Replicas()).WaitsExpired);
        }
        finally
        {
            await Servers.ResumeReplayAsync();
        }

        // Replayed again: the next wait ends without the bound.
        var next = Stopwatch.StartNew();
        Assert.Empty(await monitor.WaitForReplayAsync(await ChangeOnPrimaryAsync(), CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(next.Elapsed < TimeSpan.FromSeconds(1), $"a wait after replay resumed took {next.Elapsed}");
        Assert.Equal(1, Assert.Single(status.Replicas()).WaitsExpired);
    }

    [Fact]
    public async Task A_replica_that_is_down_ends_the_wait_at_the_bound_and_shows_unreachable_without_its_password()
    {
        var down = new NpgsqlConnectionStringBuilder(Servers.Standby.ConnectionString())
        {
            Port = FreePort(),
            Password = "hunter2-replica-secret",
            Timeout = 2,
        }.ConnectionString;
        var status = NewStatus();
        await using var monitor = NewMonitor(status, TimeSpan.FromSeconds(1), ("down", down));

        var clock = Stopwatch.StartNew();
        var expired = await monitor.WaitForReplayAsync(await ChangeOnPrimaryAsync(), CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(["down"], expired); // the standby that is up replayed it
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
        var replicas = status.Replicas();
        Assert.Equal(["down", Standby], replicas.Select(r => r.Name));
        Assert.False(replicas[0].Reachable);
        Assert.NotNull(replicas[0].Error);
        Assert.DoesNotContain("hunter2", replicas[0].Error, StringComparison.Ordinal);
        Assert.Equal(1, replicas[0].WaitsExpired);
        Assert.True(replicas[1].Reachable);
        Assert.Equal(0, replicas[1].WaitsExpired);
    }

    [Fact]
    public async Task The_primary_is_not_a_replica_and_says_so()
    {
        var status = NewStatus();
        await using var monitor = NewMonitor(status, TimeSpan.FromSeconds(1), ("primary", Servers.Primary.ConnectionString()));

        Assert.Equal(["primary"], await monitor.WaitForReplayAsync(await ChangeOnPrimaryAsync(), CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("is not a standby", status.Replicas()[0].Error, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The replicas' connection check: a standby passes, the primary and a replica that is down are named, without a password.</summary>
[Collection(ReplicatedPostgresCollection.Name)]
public sealed class ReplicaChecksTests(ReplicatedPostgresFixture fixture)
{
    [Fact]
    public async Task A_standby_passes_and_the_primary_or_a_replica_that_is_down_is_an_error_naming_its_key()
    {
        var down = new NpgsqlConnectionStringBuilder(fixture.Servers.Standby.ConnectionString())
        {
            Port = 1, // nothing listens on port 1
            Password = "hunter2-replica-secret",
            Timeout = 2,
        }.ConnectionString;

        var findings = await ReplicaChecks.RunAsync(
            new Dictionary<string, string>
            {
                ["standby"] = fixture.Servers.Standby.ConnectionString(),
                ["primary"] = fixture.Servers.Primary.ConnectionString(),
                ["down"] = down,
            },
            CancellationToken.None);

        Assert.Equal(2, findings.Count);
        Assert.Equal([ReplicaProblem.Unreachable, ReplicaProblem.Misconfigured], findings.Select(f => f.Problem));
        Assert.StartsWith("Cannot connect to read replica down (Invalidator:Consistency:ReadReplicas:down): ", findings[0].Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", findings[0].Message, StringComparison.Ordinal);
        Assert.StartsWith("Read replica primary (Invalidator:Consistency:ReadReplicas:primary) is not a standby", findings[1].Message, StringComparison.Ordinal);
    }
}
