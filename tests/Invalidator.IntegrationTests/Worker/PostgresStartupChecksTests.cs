using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Postgres;
using Invalidator.Worker.Cli;
using Invalidator.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// The direct source's start-up checks, through the worker's start and through <c>rules check --database</c>:
/// each problem is reported with the table or setting and the statement that fixes it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresStartupChecksTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
          public.orders:
            keys: ["order:{id}"]
        """;

    // customers keeps the default identity although its rules use email: the warning case.
    private static string Schema(string publication) => $"""
        CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);
        CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int);
        CREATE PUBLICATION {publication} FOR TABLE customers, orders;
        """;

    [Fact]
    public async Task A_table_whose_rules_need_old_values_without_replica_identity_full_is_a_warning_naming_the_fix()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "identity", Schema("pub_identity"));

        var (exitCode, output, error) = await RulesCheckAsync(harness.RulesPath, harness.ConnectionString, harness.Publication, harness.Slot);

        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        var warning = Assert.Single(output.Split('\n'), line => line.StartsWith("warning:", StringComparison.Ordinal));
        Assert.Contains("public.customers", warning, StringComparison.Ordinal);
        Assert.Contains("email", warning, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE public.customers REPLICA IDENTITY FULL;", warning, StringComparison.Ordinal);
        Assert.Contains($"info: Slot {harness.Slot} does not exist yet", output, StringComparison.Ordinal);
        Assert.Contains("database: OK, 0 error(s), 1 warning(s)", output, StringComparison.Ordinal);

        await harness.ExecuteAsync("ALTER TABLE customers REPLICA IDENTITY FULL");
        (exitCode, output, _) = await RulesCheckAsync(harness.RulesPath, harness.ConnectionString, harness.Publication, harness.Slot);
        Assert.Equal(0, exitCode);
        Assert.Contains("database: OK, 0 error(s), 0 warning(s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_publication_stops_the_worker_with_a_configuration_error_and_fails_rules_check()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "nopub", Schema("pub_other"));

        var (exitCode, _, error) = await RulesCheckAsync(harness.RulesPath, harness.ConnectionString, harness.Publication, harness.Slot);
        Assert.Equal(1, exitCode);
        Assert.Contains($"error: Publication {harness.Publication} does not exist (Invalidator:Postgres:Publication)", error, StringComparison.Ordinal);
        Assert.Contains($"CREATE PUBLICATION {harness.Publication} FOR TABLE public.customers, public.orders;", error, StringComparison.Ordinal);

        var host = await harness.StartAsync();
        var exit = await WaitForStopAsync(host);
        Assert.Equal(ExitCodes.ConfigurationError, exit.Code);
        Assert.Contains($"Publication {harness.Publication} does not exist", exit.Reason, StringComparison.Ordinal);
        Assert.Null(await harness.ConfirmedFlushAsync()); // it stopped before creating a slot
    }

    [Fact]
    public async Task A_slot_in_use_by_another_consumer_is_reported_with_its_pid()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "busy", Schema("pub_busy"));
        await using var other = new LogicalReplicationConnection(harness.ConnectionString);
        await other.Open();
        await other.CreatePgOutputReplicationSlot(harness.Slot);
        using var stop = new CancellationTokenSource();
        var otherStream = ConsumeAsync(other, harness, stop.Token);
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the other consumer streams from the slot");

        var (exitCode, _, error) = await RulesCheckAsync(harness.RulesPath, harness.ConnectionString, harness.Publication, harness.Slot);

        Assert.Equal(1, exitCode);
        Assert.Contains($"error: Slot {harness.Slot} is in use by another consumer (PID {other.ProcessID}", error, StringComparison.Ordinal);
        Assert.Contains("Invalidator:Postgres:Slot", error, StringComparison.Ordinal);
        await stop.CancelAsync();
        await otherStream;
    }

    [Fact]
    public async Task A_server_without_logical_wal_is_an_error_naming_the_setting()
    {
        await using var replicaOnly = await PostgresServer.StartNewAsync(walLevel: "replica");
        var rulesPath = Path.Combine(Directory.CreateTempSubdirectory("invalidator-test-").FullName, "rules.yaml");
        await File.WriteAllTextAsync(rulesPath, Rules);

        var (exitCode, _, error) = await RulesCheckAsync(rulesPath, replicaOnly.ConnectionString(), "invalidator", "invalidator");

        Assert.Equal(1, exitCode);
        Assert.Contains("error: wal_level is 'replica'; logical replication needs 'logical'. Run ALTER SYSTEM SET wal_level = logical;", error, StringComparison.Ordinal);
        Assert.Contains("error: Publication invalidator does not exist", error, StringComparison.Ordinal);
        Directory.Delete(Path.GetDirectoryName(rulesPath)!, recursive: true);
    }

    [Fact]
    public async Task An_unreachable_database_is_an_error_naming_the_connection_string_key()
    {
        var rulesPath = Path.Combine(Directory.CreateTempSubdirectory("invalidator-test-").FullName, "rules.yaml");
        await File.WriteAllTextAsync(rulesPath, Rules);

        var (exitCode, _, error) = await RulesCheckAsync(rulesPath, "Host=127.0.0.1;Port=1;Username=postgres;Timeout=2", "invalidator", "invalidator");

        Assert.Equal(1, exitCode);
        Assert.Contains("error: Cannot connect to PostgreSQL (Invalidator:Postgres:ConnectionString)", error, StringComparison.Ordinal);
        Directory.Delete(Path.GetDirectoryName(rulesPath)!, recursive: true);
    }

    private static async Task<(int ExitCode, string Output, string Error)> RulesCheckAsync(string rulesPath, string connectionString, string publication, string slot)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exitCode = await InvalidatorCommandLine.InvokeAsync(
            ["rules", "check", rulesPath, "--database", connectionString, "--publication", publication, "--slot", slot], output, error);
        return (exitCode, output.ToString(), error.ToString());
    }

    private static async Task ConsumeAsync(LogicalReplicationConnection connection, PostgresWorkerHarness harness, CancellationToken cancellationToken)
    {
        try
        {
            var options = new PgOutputReplicationOptions(harness.Publication, PgOutputProtocolVersion.V1);
            await foreach (var _ in connection.StartReplication(new PgOutputReplicationSlot(harness.Slot), options, cancellationToken))
            {
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped by the test.
        }
    }

    private static async Task<WorkerExit> WaitForStopAsync(IHost host)
    {
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        await Eventually.AssertAsync(() => lifetime.ApplicationStopping.IsCancellationRequested, Deadline, "the worker stops itself");
        return host.Services.GetRequiredService<WorkerExit>();
    }
}
