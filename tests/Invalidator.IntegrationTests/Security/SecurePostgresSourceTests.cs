using Invalidator.IntegrationTests.Cli;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Cli;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Sources.Postgres;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Invalidator.IntegrationTests.Security;

/// <summary>
/// The direct source on a PostgreSQL that lets the worker's role in only over TLS with SCRAM, the client verifying
/// the server's certificate against the test's CA (<c>SSL Mode=VerifyFull</c>, <c>Root Certificate</c>): the worker
/// streams changes with the password from <c>Invalidator:Postgres:PasswordFile</c> and deletes their keys through a
/// TLS Redis region with an ACL user. <c>rules check --database</c> takes the password from <c>--password-file</c> or
/// <c>PGPASSWORD</c>. Controls: a wrong password, another CA, no TLS; no message or log ever shows the password.
/// </summary>
[Collection(SecureServersCollection.Name)]
public sealed class SecurePostgresSourceTests(SecureServersFixture servers) : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private const string Rules = "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n";

    private readonly CliFiles _files = new();
    private readonly List<IHost> _hosts = [];
    private readonly LogCapture _logs = new();
    private readonly string _prefix = ServersFixture.UniqueName("pgtls") + ":";
    private string _database = "";

    private string Publication => "pub_tls";

    private string Slot => $"slot_{_database}";

    public async Task InitializeAsync()
    {
        _database = await servers.Postgres.CreateDatabaseAsync("tls");
        await servers.Postgres.ExecuteAsync(_database, $"""
            CREATE TABLE customers (id int PRIMARY KEY, name text);
            CREATE PUBLICATION {Publication} FOR TABLE customers;
            """);
    }

    public async Task DisposeAsync()
    {
        await WorkerHosts.StopAndDisposeAllAsync(_hosts);
        await servers.Postgres.DropDatabaseAsync(_database);
        _files.Dispose();
    }

    [Fact]
    public async Task The_worker_streams_over_verify_full_tls_with_the_password_file_and_deletes_through_the_tls_region()
    {
        var host = await StartWorkerAsync(new() { ["Invalidator:Postgres:PasswordFile"] = servers.PasswordFile });
        await Eventually.AssertAsync(SlotActiveAsync, Deadline, "the worker creates its slot and streams from it");
        await servers.RedisDatabase.StringSetAsync(_prefix + "customer:1", "cached");
        await servers.RedisDatabase.StringSetAsync(_prefix + "customer:2", "cached");

        await servers.Postgres.ExecuteAsync(_database, "INSERT INTO customers VALUES (1, 'Ann')");

        await Eventually.AssertAsync(async () => !await servers.RedisDatabase.KeyExistsAsync(_prefix + "customer:1"), Deadline,
            "the insert's key is deleted in the TLS region");
        Assert.True(await servers.RedisDatabase.KeyExistsAsync(_prefix + "customer:2"));
        // The server's view: every session of the worker's role (the replication stream, the checks, the dead-letter
        // table) is encrypted; pg_hba.conf refuses it without TLS anyway.
        var sessions = await servers.Postgres.ScalarAsync<long>("postgres",
            $"SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = '{SecureServersFixture.User}' AND s.ssl");
        Assert.True(sessions >= 1, "the worker's sessions use TLS");
        Assert.Equal(0, host.Services.GetRequiredService<WorkerExit>().Code);
        AssertNoSecret(SecureServersFixture.Password);
    }

    [Fact]
    public async Task The_password_option_works_too_for_example_from_an_environment_variable()
    {
        // Invalidator__Postgres__Password in the environment binds to this key; the in-memory source stands in for it.
        await StartWorkerAsync(new() { ["Invalidator:Postgres:Password"] = SecureServersFixture.Password });
        await Eventually.AssertAsync(SlotActiveAsync, Deadline, "the worker streams with the password from the option");
        await servers.RedisDatabase.StringSetAsync(_prefix + "customer:3", "cached");

        await servers.Postgres.ExecuteAsync(_database, "INSERT INTO customers VALUES (3, 'Cy')");

        await Eventually.AssertAsync(async () => !await servers.RedisDatabase.KeyExistsAsync(_prefix + "customer:3"), Deadline, "the key is deleted");
    }

    [Fact]
    public async Task A_wrong_password_stops_the_start_with_the_server_s_reason_and_never_the_password()
    {
        const string wrong = "wr0ng;p4ss'w0rd, n0pe";
        var host = await StartWorkerAsync(new() { ["Invalidator:Postgres:PasswordFile"] = _files.Write("wrong", wrong) });

        var exit = await WaitForStopAsync(host);

        Assert.Equal(ExitCodes.ConfigurationError, exit.Code);
        Assert.Contains("password authentication failed for user \"invalidator\"", exit.Reason, StringComparison.Ordinal);
        AssertNoSecret(wrong);
        AssertNoSecret(SecureServersFixture.Password);
    }

    [Fact]
    public async Task Verify_full_against_a_ca_that_did_not_issue_the_server_certificate_fails()
    {
        var host = await StartWorkerAsync(new()
        {
            ["Invalidator:Postgres:ConnectionString"] = servers.PostgresVerifyFull(_database, rootCertificate: servers.StrangerCaFile),
            ["Invalidator:Postgres:PasswordFile"] = servers.PasswordFile,
        });

        var exit = await WaitForStopAsync(host);

        Assert.Equal(ExitCodes.ConfigurationError, exit.Code);
        Assert.Contains("Cannot connect to PostgreSQL", exit.Reason, StringComparison.Ordinal);
        Assert.Contains("The remote certificate was rejected", exit.Reason, StringComparison.Ordinal);
        Assert.Contains("must chain to the CA of Root Certificate= (or PGSSLROOTCERT)", exit.Reason, StringComparison.Ordinal);
        AssertNoSecret(SecureServersFixture.Password);
    }

    [Fact]
    public async Task Control_without_tls_the_server_refuses_the_role()
    {
        var plain = servers.PostgresVerifyFull(_database).Replace("SSL Mode=VerifyFull", "SSL Mode=Disable", StringComparison.Ordinal);
        Assert.Contains("SSL Mode=Disable", plain, StringComparison.Ordinal);
        var host = await StartWorkerAsync(new()
        {
            ["Invalidator:Postgres:ConnectionString"] = plain,
            ["Invalidator:Postgres:PasswordFile"] = servers.PasswordFile,
        });

        var exit = await WaitForStopAsync(host);

        Assert.Contains("no encryption", exit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rules_check_takes_the_password_from_a_file_and_without_one_says_so()
    {
        var rules = _files.Write("rules.yaml", Rules);
        var connection = servers.PostgresVerifyFull(_database);

        var ok = await CliFiles.InvokeAsync("rules", "check", rules, "--database", connection, "--password-file", servers.PasswordFile,
            "--publication", Publication, "--slot", Slot);
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("database: OK", ok.Output, StringComparison.Ordinal);

        var none = await CliFiles.InvokeAsync("rules", "check", rules, "--database", connection, "--publication", Publication, "--slot", Slot);
        Assert.Equal(1, none.ExitCode);
        Assert.StartsWith("error: Cannot connect to PostgreSQL", none.ErrorLines[0], StringComparison.Ordinal);
        Assert.Contains("password", none.ErrorLines[0], StringComparison.OrdinalIgnoreCase);

        var both = await CliFiles.InvokeAsync("rules", "check", rules, "--database", connection + ";Password=x", "--password-file", servers.PasswordFile);
        Assert.Equal(1, both.ExitCode);
        Assert.Equal("--database has a password and --password-file is given too: remove the password from --database.", both.ErrorLines[0]);

        var missing = Path.Combine(_files.Directory, "absent");
        var unreadable = await CliFiles.InvokeAsync("rules", "check", rules, "--database", connection, "--password-file", missing);
        Assert.Equal(1, unreadable.ExitCode);
        Assert.StartsWith($"--password-file names {missing}, which cannot be read (no such file)", unreadable.ErrorLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rules_check_on_the_binary_takes_the_password_from_pgpassword()
    {
        var rules = _files.Write("rules.yaml", Rules);
        string[] args = ["rules", "check", rules, "--database", servers.PostgresVerifyFull(_database), "--publication", Publication, "--slot", Slot];

        var ok = await _files.RunBinaryAsync(new Dictionary<string, string> { ["PGPASSWORD"] = SecureServersFixture.Password }, args);
        Assert.True(ok.ExitCode == 0, ok.ToString());

        const string wrong = "wr0ng;p4ss'w0rd, n0pe";
        var refused = await _files.RunBinaryAsync(new Dictionary<string, string> { ["PGPASSWORD"] = wrong }, args);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("password authentication failed for user \"invalidator\"", refused.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("wr0ng", refused.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_connection_error_ever_shows_the_password_or_a_piece_of_it_generated_inputs()
    {
        var random = new Random(5117);
        const string alphabet = "abcXYZ019;,='\" {}%\\";
        var rules = new Invalidator.Core.Rules.RuleSet("rules.yaml", []);
        for (var i = 0; i < 60; i++)
        {
            var password = "PW" + new string(Enumerable.Range(0, random.Next(6, 20)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            // The password through the builder (quoted), or pasted raw into the string where it may break the syntax.
            var connection = random.Next(2) == 0
                ? PostgresCredentials.WithPassword(servers.PostgresVerifyFull(_database), password, null, "")
                : servers.PostgresVerifyFull(_database) + ";Password=" + password;

            var report = await PostgresSourceChecks.RunAsync(connection, Publication, Slot, rules, CancellationToken.None);

            var error = Assert.Single(report.Findings).Message;
            Assert.StartsWith("Cannot connect to PostgreSQL", error, StringComparison.Ordinal);
            foreach (var piece in password.Split(';', '=', '\'', '"', ',', ' ').Where(p => p.Length >= 4))
            {
                Assert.DoesNotContain(piece, error, StringComparison.Ordinal);
            }
        }
    }

    private async Task<IHost> StartWorkerAsync(Dictionary<string, string?> overrides)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Invalidator:Source"] = "Postgres",
            ["Invalidator:Postgres:ConnectionString"] = servers.PostgresVerifyFull(_database),
            ["Invalidator:Postgres:Publication"] = Publication,
            ["Invalidator:Postgres:Slot"] = Slot,
            ["Invalidator:Rules:Path"] = _files.Write("rules.yaml", Rules),
            ["Invalidator:Batching:MaxWait"] = "00:00:00.020",
            ["Invalidator:Http:Urls"] = "http://127.0.0.1:0",
            ["Invalidator:Http:StatusUrls"] = "http://127.0.0.1:0",
            ["Invalidator:Regions:secure:Redis"] = servers.RedisTls,
            ["Invalidator:Regions:secure:User"] = SecureServersFixture.User,
            ["Invalidator:Regions:secure:PasswordFile"] = servers.PasswordFile,
            ["Invalidator:Regions:secure:TlsCaFile"] = servers.CaFile,
            ["Invalidator:Regions:secure:KeyPrefix"] = _prefix,
        };
        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = _files.Directory });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddProvider(_logs);
        builder.Services.AddInvalidator();
        var host = builder.Build();
        _hosts.Add(host);
        await host.StartAsync();
        return host;
    }

    private async Task<bool> SlotActiveAsync() =>
        await servers.Postgres.ScalarAsync<bool>(_database, $"SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = '{Slot}'), false)");

    private static async Task<WorkerExit> WaitForStopAsync(IHost host)
    {
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        await Eventually.AssertAsync(() => lifetime.ApplicationStopping.IsCancellationRequested, Deadline, "the worker stops itself");
        return host.Services.GetRequiredService<WorkerExit>();
    }

    /// <summary>No log line or logged exception holds the password, nor a piece of it.</summary>
    private void AssertNoSecret(string password)
    {
        var pieces = password.Split(';', ',', '\'', '"', '=').Select(p => p.Trim()).Where(p => p.Length >= 4).Append(password).ToList();
        foreach (var entry in _logs.Entries)
        {
            foreach (var piece in pieces)
            {
                Assert.DoesNotContain(piece, entry.Message, StringComparison.Ordinal);
                Assert.DoesNotContain(piece, entry.Exception ?? "", StringComparison.Ordinal);
            }
        }
    }
}
