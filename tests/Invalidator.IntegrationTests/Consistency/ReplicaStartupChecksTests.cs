using Invalidator.Core.Rules;
using Invalidator.IntegrationTests.Cli;
using Invalidator.IntegrationTests.Infrastructure.Postgres;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Consistency;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Invalidator.IntegrationTests.Consistency;

/// <summary>
/// The read replicas' checks on a real primary and standby, at the worker's start and in <c>rules check --database</c>:
/// a standby passes; the primary named as a replica, a login the server refuses, a database that does not exist and,
/// in Kafka mode, a standby named as the primary are misconfigurations that stop the start with what to fix; a replica
/// that does not answer only warns at start (the worker starts) but fails <c>rules check</c>. No message holds a password.
/// </summary>
[Collection(ReplicatedPostgresCollection.Name)]
public sealed class ReplicaStartupChecksTests(ReplicatedPostgresFixture fixture) : IDisposable
{
    private const string Secret = "hunter2-replica-secret";

    private readonly CliFiles _files = new();

    private ReplicatedPostgres Servers => fixture.Servers;

    public void Dispose() => _files.Dispose();

    private string Standby => Servers.Standby.ConnectionString();

    private string Primary => Servers.Primary.ConnectionString();

    private string Down => new NpgsqlConnectionStringBuilder(Standby) { Port = 1, Password = Secret, Timeout = 2 }.ConnectionString;

    [Fact]
    public async Task A_refused_login_and_a_missing_database_are_misconfigurations_and_a_standby_named_as_the_primary_is_refused()
    {
        var findings = await ReplicaChecks.RunAsync(
            new Dictionary<string, string>
            {
                ["nobody"] = new NpgsqlConnectionStringBuilder(Standby) { Username = "no_such_role", Password = Secret }.ConnectionString,
                ["nodb"] = new NpgsqlConnectionStringBuilder(Standby) { Database = "no_such_database" }.ConnectionString,
                ["standby"] = Standby,
            },
            CancellationToken.None);

        Assert.Equal(2, findings.Count);
        Assert.All(findings, f => Assert.Equal(ReplicaProblem.Misconfigured, f.Problem));
        Assert.StartsWith("Cannot log in to read replica nobody (Invalidator:Consistency:ReadReplicas:nobody): ", findings[0].Message, StringComparison.Ordinal);
        Assert.Contains("no_such_role", findings[0].Message, StringComparison.Ordinal);
        Assert.Contains("Fix the user and password of Invalidator:Consistency:ReadReplicas:nobody", findings[0].Message, StringComparison.Ordinal);
        Assert.StartsWith("Cannot use read replica nodb (Invalidator:Consistency:ReadReplicas:nodb): ", findings[1].Message, StringComparison.Ordinal);
        Assert.Contains("Fix Database= in Invalidator:Consistency:ReadReplicas:nodb", findings[1].Message, StringComparison.Ordinal);
        Assert.All(findings, f => Assert.DoesNotContain(Secret, f.Message, StringComparison.Ordinal));

        // The primary of Kafka mode: the real one passes, the standby has no pg_current_wal_lsn().
        Assert.Empty(await ReplicaChecks.CheckPrimaryAsync(Primary, CancellationToken.None));
        var standbyAsPrimary = Assert.Single(await ReplicaChecks.CheckPrimaryAsync(Standby, CancellationToken.None));
        Assert.Equal(ReplicaProblem.Misconfigured, standbyAsPrimary.Problem);
        Assert.StartsWith("The primary (Invalidator:Consistency:Primary) is a standby", standbyAsPrimary.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task At_start_a_replica_that_does_not_answer_is_a_warning_and_a_misconfigured_one_stops_the_start()
    {
        var rules = new RuleSet("rules.yaml", []);
        using var logs = new LogCapture();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));

        // Unreachable: warned (event 8301, without the password), and the start goes on.
        var down = new ReplicaStartupChecks(OptionsWith(("standby", Standby), ("down", Down)), rules, loggers);
        await down.RunAsync();
        var warning = Assert.Single(logs.Entries, e => e.EventId == 8301);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.StartsWith("Read replica check: Cannot connect to read replica down (Invalidator:Consistency:ReadReplicas:down): ", warning.Message, StringComparison.Ordinal);
        Assert.Contains("The worker starts: waits for it end at Invalidator:Consistency:ReplicaWaitMax", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, warning.Message, StringComparison.Ordinal);
        Assert.Equal(0, logs.Count(8300));

        // The control: the primary named as a replica stops it, logged (8300) and thrown as a configuration error.
        var primary = new ReplicaStartupChecks(OptionsWith(("standby", Standby), ("primary", Primary)), rules, loggers);
        var failure = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(primary.RunAsync);
        Assert.StartsWith("Read replica primary (Invalidator:Consistency:ReadReplicas:primary) is not a standby", Assert.Single(failure.Failures), StringComparison.Ordinal);
        Assert.Equal(1, logs.Count(8300));

        // All standbys: one line saying so.
        await new ReplicaStartupChecks(OptionsWith(("standby", Standby)), rules, loggers).RunAsync();
        Assert.Contains(logs.Entries, e => e.EventId == 8302 && e.Message == "Read replicas checked: standby answer as standbys");
    }

    [Fact]
    public async Task Run_stops_with_a_configuration_error_naming_the_replica_that_is_not_a_standby()
    {
        var rules = _files.Write("rules.yaml", "tables:\n  public.replica_items:\n    keys: [\"item:{id}\"]\n");
        var settings = new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = "127.0.0.1:1",
            ["Invalidator:Kafka:TopicPattern"] = "^none$",
            ["Invalidator:Rules:Path"] = rules,
            ["Invalidator:Regions:test:Redis"] = "127.0.0.1:1",
            ["Invalidator:Consistency:ReadReplicas:standby"] = Standby,
            ["Invalidator:Consistency:ReadReplicas:primary"] = new NpgsqlConnectionStringBuilder(Primary) { Password = Secret }.ConnectionString,
        };
        var config = Path.Combine(_files.Directory, "settings.json");
        ConfigFile.Write(config, settings);

        var result = await CliFiles.InvokeAsync("run", "--config", config);

        Assert.True(result.ExitCode == ExitCodes.ConfigurationError, result.ToString());
        Assert.Contains("Invalid configuration:", result.Error, StringComparison.Ordinal);
        Assert.Contains("  Read replica primary (Invalidator:Consistency:ReadReplicas:primary) is not a standby (pg_is_in_recovery() is false): " +
            "point it at a replica your applications read from, not at the primary.", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, result.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rules_check_database_checks_the_configured_replicas_and_the_Kafka_mode_primary()
    {
        const string publication = "pub_replica_checks";
        await Servers.Primary.ExecuteAsync("postgres", $"""
            CREATE TABLE IF NOT EXISTS replica_check_items (id int PRIMARY KEY);
            DO $$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '{publication}') THEN CREATE PUBLICATION {publication} FOR TABLE replica_check_items; END IF;
            END $$;
            """);
        var rules = _files.Write("rules.yaml", "tables:\n  public.replica_check_items:\n    keys: [\"item:{id}\"]\n    waitForReplicas: true\n");

        // Direct mode, one standby: ready.
        var ok = await RulesCheckAsync(rules, publication, ("Invalidator:Source", "Postgres"), ("Invalidator:Consistency:ReadReplicas:standby", Standby));
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("database: OK, 0 error(s), 0 warning(s) for publication pub_replica_checks and slot invalidator and read replica(s) standby", ok.Output, StringComparison.Ordinal);

        // The primary as a replica, and one that does not answer: both errors here (the check was asked for and failed).
        var bad = await RulesCheckAsync(
            rules, publication, ("Invalidator:Source", "Postgres"), ("Invalidator:Consistency:ReadReplicas:primary", Primary), ("Invalidator:Consistency:ReadReplicas:down", Down));
        Assert.True(bad.ExitCode == 1, bad.ToString());
        Assert.Contains("error: Cannot connect to read replica down (Invalidator:Consistency:ReadReplicas:down): ", bad.Error, StringComparison.Ordinal);
        Assert.Contains("error: Read replica primary (Invalidator:Consistency:ReadReplicas:primary) is not a standby", bad.Error, StringComparison.Ordinal);
        Assert.Contains("database: NOT READY, 2 error(s)", bad.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, bad.ToString(), StringComparison.Ordinal);

        // Kafka mode: the rules wait for the replicas, so the primary is checked too; a standby there is refused.
        var kafka = await RulesCheckAsync(
            rules, publication, ("Invalidator:Source", "Kafka"), ("Invalidator:Consistency:ReadReplicas:standby", Standby), ("Invalidator:Consistency:Primary", Standby));
        Assert.True(kafka.ExitCode == 1, kafka.ToString());
        Assert.Contains("error: The primary (Invalidator:Consistency:Primary) is a standby", kafka.Error, StringComparison.Ordinal);
        var kafkaOk = await RulesCheckAsync(
            rules, publication, ("Invalidator:Source", "Kafka"), ("Invalidator:Consistency:ReadReplicas:standby", Standby), ("Invalidator:Consistency:Primary", Primary));
        Assert.True(kafkaOk.ExitCode == 0, kafkaOk.ToString());

        // Rules that wait without a replica configured: the start's message, before any connection.
        var none = await RulesCheckAsync(rules, publication, ("Invalidator:Source", "Postgres"));
        Assert.True(none.ExitCode == 1, none.ToString());
        Assert.Contains("says waitForReplicas: true for public.replica_check_items (line 2), but Invalidator:Consistency:ReadReplicas names no replica", none.Error, StringComparison.Ordinal);
    }

    private async Task<CliResult> RulesCheckAsync(string rules, string publication, params (string Key, string Value)[] settings)
    {
        var config = Path.Combine(_files.Directory, $"settings-{Guid.NewGuid():N}.json");
        ConfigFile.Write(config, settings.ToDictionary(s => s.Key, s => (string?)s.Value));
        return await CliFiles.InvokeAsync("rules", "check", rules, "--database", Primary, "--publication", publication, "--config", config);
    }

    private static Microsoft.Extensions.Options.IOptions<InvalidatorOptions> OptionsWith(params (string Name, string ConnectionString)[] replicas)
    {
        var options = new InvalidatorOptions { Source = ChangeSourceKind.Postgres };
        foreach (var (name, connectionString) in replicas)
        {
            options.Consistency.ReadReplicas[name] = connectionString;
        }

        return Microsoft.Extensions.Options.Options.Create(options);
    }
}
