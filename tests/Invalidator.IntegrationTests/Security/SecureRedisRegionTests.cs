using Invalidator.IntegrationTests.Cli;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Regions;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Security;

/// <summary>
/// A region on a redis-server that takes it only over TLS (a private CA made by the test) and as an ACL user whose
/// password has a comma: the worker's own region factory deletes keys through that connection, and each missing
/// piece (the password inside the configuration string, a wrong password, a CA that did not issue the certificate,
/// none at all, a wrong host name) fails with a message that names the option to fix and never the password.
/// </summary>
[Collection(SecureServersCollection.Name)]
public sealed class SecureRedisRegionTests : IDisposable
{
    private const int AuthenticationFailed = 8100;
    private const int CertificateRejected = 8101;
    private const int WrongIdentity = 8102;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly SecureServersFixture servers;
    private readonly string _prefix = ServersFixture.UniqueName("tls") + ":";
    private readonly LogCapture _logs = new();
    private readonly ILoggerFactory _loggers;

    public SecureRedisRegionTests(SecureServersFixture servers)
    {
        this.servers = servers;
        _loggers = LoggerFactory.Create(b => b.AddProvider(_logs));
    }

    public void Dispose() => _loggers.Dispose();

    private TestRegion Region(Action<RegionOptions> configure) =>
        new(servers.RedisTls, _prefix, configure: region =>
        {
            region.Resilience.MaxRetryAttempts = 1;
            region.Resilience.BaseDelay = TimeSpan.Zero;
            region.Resilience.AttemptTimeout = TimeSpan.FromSeconds(2);
            configure(region);
        }, loggers: _loggers);

    private async Task PlantAsync(params string[] keys)
    {
        foreach (var key in keys)
        {
            await servers.RedisDatabase.StringSetAsync(_prefix + key, "cached");
        }
    }

    private async Task<bool> ExistsAsync(string key) => await servers.RedisDatabase.KeyExistsAsync(_prefix + key);

    [Fact]
    public async Task Over_tls_as_an_acl_user_with_a_comma_in_its_password_the_region_deletes_keys_and_tags()
    {
        Assert.Contains(',', SecureServersFixture.Password);
        await PlantAsync("customer:1", "customer:2", "profile:7", "other:1");
        await servers.RedisDatabase.SetAddAsync(_prefix + "tag:tenant:3", ["profile:7"]);
        using var region = Region(r =>
        {
            r.User = SecureServersFixture.User;
            r.PasswordFile = servers.PasswordFile;
            r.TlsCaFile = servers.CaFile;
        });

        await region.Region.ApplyAsync(["customer:1", "customer:2"], ["tenant:3"], CancellationToken.None);

        Assert.False(await ExistsAsync("customer:1"));
        Assert.False(await ExistsAsync("customer:2"));
        Assert.False(await ExistsAsync("profile:7"), "a tag's member is deleted through the ACL user's SSCAN and UNLINK");
        Assert.True(await ExistsAsync("other:1"));
        // The server's view: the region's client is the ACL user, on the TLS port.
        var clients = await servers.RedisAdmin.ClientListAsync();
        Assert.Contains(clients, c => c.Raw is { } raw && raw.Contains($"user={SecureServersFixture.User}", StringComparison.Ordinal)
            && raw.Contains($"laddr=127.0.0.1:{servers.RedisTlsPort}", StringComparison.Ordinal));
        Assert.DoesNotContain(_logs.Entries, e => e.EventId is AuthenticationFailed or CertificateRejected or WrongIdentity);
    }

    [Fact]
    public async Task The_password_given_as_an_option_works_too_and_the_options_pass_the_worker_s_checks()
    {
        await PlantAsync("customer:3");
        var options = new RegionOptions
        {
            Redis = servers.RedisTls,
            User = SecureServersFixture.User,
            Password = SecureServersFixture.Password,
            TlsCaFile = servers.CaFile,
        };
        Assert.Empty(Failures(options));

        using var region = Region(r =>
        {
            r.User = options.User;
            r.Password = options.Password;
            r.TlsCaFile = options.TlsCaFile;
        });
        await region.Region.ApplyAsync(["customer:3"], [], CancellationToken.None);

        Assert.False(await ExistsAsync("customer:3"));
    }

    [Fact]
    public void Control_the_same_password_inside_the_configuration_string_is_cut_at_its_comma_and_a_piece_of_it_quoted()
    {
        var redis = $"{servers.RedisTls},user={SecureServersFixture.User},password={SecureServersFixture.Password}";

        // The parser reads the piece after the comma as an option and quotes it in its error: a piece of the password.
        var error = Assert.ThrowsAny<ArgumentException>(() => ConfigurationOptions.Parse(redis));
        Assert.Contains("w1th;c0mmas", error.Message, StringComparison.Ordinal);
        // The worker's check refuses the string without quoting the parser, and names the options to use instead.
        var failure = Assert.Single(Failures(new RegionOptions { Redis = redis }));
        Assert.DoesNotContain("w1th;c0mmas", failure, StringComparison.Ordinal);
        Assert.Contains("move the password to Invalidator:Regions:test:Password or :PasswordFile", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_fails_with_a_log_naming_the_options_and_never_the_password()
    {
        const string wrong = "n0t-th3-p4ss,r3ally";
        await PlantAsync("customer:5");
        using var region = Region(r =>
        {
            r.User = SecureServersFixture.User;
            r.Password = wrong;
            r.TlsCaFile = servers.CaFile;
        });

        await Assert.ThrowsAsync<RegionApplyException>(() => region.Region.ApplyAsync(["customer:5"], [], CancellationToken.None));
        await Eventually.AssertAsync(() => Task.FromResult(_logs.Count(AuthenticationFailed) > 0), Deadline, "the refused login is logged");

        Assert.True(await ExistsAsync("customer:5"));
        var entry = _logs.Entries.First(e => e.EventId == AuthenticationFailed);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.StartsWith($"Region test: 127.0.0.1:{servers.RedisTlsPort} refused the connection (AuthenticationFailure:", entry.Message, StringComparison.Ordinal);
        Assert.Contains("Invalidator:Regions:test:User and :Password or :PasswordFile", entry.Message, StringComparison.Ordinal);
        AssertNoSecret(wrong);
    }

    [Fact]
    public async Task With_the_default_user_on_a_refused_login_carries_on_as_default_and_the_region_says_so()
    {
        // The trap the fixture avoids: a passwordless default user. The login fails, StackExchange.Redis goes on.
        await servers.RedisAdmin.ExecuteAsync("ACL", "SETUSER", "default", "on", "nopass");
        try
        {
            const string wrong = "n0t-th3-p4ss,r3ally";
            await PlantAsync("customer:10");
            using var region = Region(r =>
            {
                r.User = SecureServersFixture.User;
                r.Password = wrong;
                r.TlsCaFile = servers.CaFile;
            });

            await region.Region.ApplyAsync(["customer:10"], [], CancellationToken.None);
            await Eventually.AssertAsync(() => Task.FromResult(_logs.Count(WrongIdentity) > 0), Deadline, "the identity check sees the default user");

            Assert.False(await ExistsAsync("customer:10"), "the delete went through, as the default user");
            Assert.Equal(
                $"Region test: 127.0.0.1:{servers.RedisTlsPort} says this connection is user 'default', not 'invalidator' (Invalidator:Regions:test:User): " +
                "the server refused the password and carried on with its passwordless default user. Fix :Password or :PasswordFile, and turn the default user off (ACL SETUSER default off) (0 more in the last minute)",
                _logs.Entries.First(e => e.EventId == WrongIdentity).Message);
            AssertNoSecret(wrong);
        }
        finally
        {
            await servers.RedisAdmin.ExecuteAsync("ACL", "SETUSER", "default", "off");
        }
    }

    [Fact]
    public async Task A_ca_that_did_not_issue_the_server_certificate_is_refused_and_the_log_says_why()
    {
        await PlantAsync("customer:6");
        using var region = Region(r =>
        {
            r.User = SecureServersFixture.User;
            r.PasswordFile = servers.PasswordFile;
            r.TlsCaFile = servers.StrangerCaFile;
        });

        await Assert.ThrowsAsync<RegionApplyException>(() => region.Region.ApplyAsync(["customer:6"], [], CancellationToken.None));
        await Eventually.AssertAsync(() => Task.FromResult(_logs.Count(CertificateRejected) > 0), Deadline, "the refused certificate is logged");

        Assert.True(await ExistsAsync("customer:6"));
        var entry = _logs.Entries.First(e => e.EventId == CertificateRejected);
        Assert.Contains($"does not chain to a CA in {servers.StrangerCaFile}", entry.Message, StringComparison.Ordinal);
        Assert.Contains("Invalidator:Regions:test:TlsCaFile", entry.Message, StringComparison.Ordinal);
        AssertNoSecret(SecureServersFixture.Password);
    }

    [Fact]
    public async Task Control_without_tls_ca_file_the_system_trust_refuses_the_private_ca()
    {
        await PlantAsync("customer:7");
        using var region = Region(r =>
        {
            r.User = SecureServersFixture.User;
            r.PasswordFile = servers.PasswordFile;
        });

        await Assert.ThrowsAsync<RegionApplyException>(() => region.Region.ApplyAsync(["customer:7"], [], CancellationToken.None));

        Assert.True(await ExistsAsync("customer:7"));
    }

    [Fact]
    public async Task A_certificate_that_does_not_name_the_host_is_refused_even_from_the_trusted_ca()
    {
        await PlantAsync("customer:8");
        using var region = new TestRegion($"{servers.RedisTls},sslHost=cache.example.com", _prefix, configure: r =>
        {
            r.User = SecureServersFixture.User;
            r.PasswordFile = servers.PasswordFile;
            r.TlsCaFile = servers.CaFile;
            r.Resilience.MaxRetryAttempts = 1;
            r.Resilience.AttemptTimeout = TimeSpan.FromSeconds(2);
        }, loggers: _loggers);

        await Assert.ThrowsAsync<RegionApplyException>(() => region.Region.ApplyAsync(["customer:8"], [], CancellationToken.None));
        await Eventually.AssertAsync(() => Task.FromResult(_logs.Count(CertificateRejected) > 0), Deadline, "the refused certificate is logged");

        Assert.True(await ExistsAsync("customer:8"));
        Assert.Contains("does not name the host", _logs.Entries.First(e => e.EventId == CertificateRejected).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_connects_the_same_way_and_a_wrong_password_is_a_clear_error_without_the_password()
    {
        using var files = new CliFiles();
        await PlantAsync("customer:9");
        var rules = files.Write("rules.yaml", "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n");
        string Config(string passwordFile) => Write(files, new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = "127.0.0.1:1",
            ["Invalidator:Kafka:TopicPattern"] = "^none$",
            ["Invalidator:Rules:Path"] = rules,
            ["Invalidator:Regions:secure:Redis"] = servers.RedisTls,
            ["Invalidator:Regions:secure:User"] = SecureServersFixture.User,
            ["Invalidator:Regions:secure:PasswordFile"] = passwordFile,
            ["Invalidator:Regions:secure:TlsCaFile"] = servers.CaFile,
            ["Invalidator:Regions:secure:KeyPrefix"] = _prefix,
        });

        var ok = await CliFiles.InvokeAsync("audit", "--config", Config(servers.PasswordFile), "--json");
        Assert.True(ok.ExitCode == 0, ok.ToString());

        const string wrong = "wr0ng,p4ssw0rd";
        var refused = await CliFiles.InvokeAsync("audit", "--config", Config(files.Write("wrong", wrong)));
        Assert.True(refused.ExitCode == 2, refused.ToString());
        var line = Assert.Single(refused.ErrorLines, l => l.StartsWith("audit failed:", StringComparison.Ordinal));
        Assert.Contains("AuthenticationFailure", line, StringComparison.Ordinal);
        Assert.Contains("check Invalidator:Regions:secure:User and :Password or :PasswordFile", line, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, refused.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.ToString(), StringComparison.Ordinal);
    }

    private static string Write(CliFiles files, Dictionary<string, string?> settings)
    {
        var path = Path.Combine(files.Directory, $"settings-{Guid.NewGuid():N}.json");
        ConfigFile.Write(path, settings);
        return path;
    }

    private static IReadOnlyList<string> Failures(RegionOptions region)
    {
        var options = new InvalidatorOptions
        {
            Kafka = { BootstrapServers = "localhost:9092", Topics = ["t"] },
            Rules = { Path = "rules.yaml" },
            Regions = { ["test"] = region },
        };
        var result = new InvalidatorOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures!] : [];
    }

    /// <summary>No log line or logged exception holds the password, nor a piece of it cut at a comma.</summary>
    private void AssertNoSecret(string password)
    {
        foreach (var entry in _logs.Entries)
        {
            foreach (var piece in password.Split(',').Append(password).Where(p => p.Trim().Length >= 4))
            {
                Assert.DoesNotContain(piece.Trim(), entry.Message, StringComparison.Ordinal);
                Assert.DoesNotContain(piece.Trim(), entry.Exception ?? "", StringComparison.Ordinal);
            }
        }
    }
}
