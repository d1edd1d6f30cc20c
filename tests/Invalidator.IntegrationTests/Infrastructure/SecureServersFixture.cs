using System.Globalization;
using System.Net;
using Invalidator.IntegrationTests.Infrastructure.Postgres;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.IntegrationTests.Infrastructure.Tls;
using Npgsql;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Infrastructure;

/// <summary>
/// Servers that take the worker only over TLS and with a password, with certificates from a private CA made here:
/// a redis-server with a TLS port and an ACL user, and a PostgreSQL with <c>ssl=on</c> whose pg_hba.conf lets the
/// worker's role in only over TLS with SCRAM. Both names are in the certificates (127.0.0.1 and localhost), so
/// clients can verify the host. The tests' own reads and writes use the servers' plain loopback access as an admin
/// user / the superuser. Redis' default user is off. Always local processes, also where Docker is available (the certificates and pg_hba
/// are files on this machine); redis-server and PostgreSQL missing is a failure, never a skip.
/// </summary>
public sealed class SecureServersFixture : IAsyncLifetime
{
    public const string User = "invalidator";

    /// <summary>
    /// The worker's password on both servers: a comma (which splits a StackExchange.Redis configuration string), a
    /// semicolon and quotes (Npgsql's connection-string syntax), an equals sign and spaces.
    /// </summary>
    public const string Password = "s3cr3t, w1th;c0mmas=and 'qu0tes' \"t00\"";

    private const string AdminUser = "test-admin";
    private const string AdminPassword = "test-admin-password";

    private readonly DirectoryInfo _files = Directory.CreateTempSubdirectory("invalidator-secure-");
    private ProcessRedisServers? _redis;
    private ProcessPostgresServer? _postgres;
    private ConnectionMultiplexer? _admin;

    public TestCertificateAuthority Authority { get; } = TestCertificateAuthority.Create("Invalidator test CA");

    /// <summary>A CA that issued none of these servers' certificates: trusting it instead must fail.</summary>
    public TestCertificateAuthority Stranger { get; } = TestCertificateAuthority.Create("Some other CA");

    /// <summary>The CA certificate (PEM) that issued both servers' certificates.</summary>
    public string CaFile => Path.Combine(_files.FullName, "ca.crt");

    public string StrangerCaFile => Path.Combine(_files.FullName, "stranger-ca.crt");

    /// <summary>A file holding <see cref="Password"/> with a trailing line break, as <c>echo</c> writes it.</summary>
    public string PasswordFile => Path.Combine(_files.FullName, "password");

    public int RedisTlsPort { get; private set; }

    /// <summary>The TLS port as a StackExchange.Redis configuration string, without credentials.</summary>
    public string RedisTls => $"127.0.0.1:{RedisTlsPort.ToString(CultureInfo.InvariantCulture)},ssl=true";

    public RedisServers Redis => _redis ?? throw new InvalidOperationException("The fixture is not initialized");

    /// <summary>The test's own connection (plain loopback port, an admin user of its own): it sets and reads keys and checks clients.</summary>
    public IServer RedisAdmin => (_admin ?? throw new InvalidOperationException("The fixture is not initialized")).GetServers()[0];

    public IDatabase RedisDatabase => _admin!.GetDatabase();

    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("The fixture is not initialized");

    public int PostgresPort { get; private set; }

    /// <summary>The worker's connection string: its role over TLS, verify-full against the test CA, no password in it.</summary>
    public string PostgresVerifyFull(string database, string? rootCertificate = null) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = PostgresPort,
            Database = database,
            Username = User,
            SslMode = SslMode.VerifyFull,
            RootCertificate = rootCertificate ?? CaFile,
            Pooling = false,
            Timeout = 10,
        }.ConnectionString;

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(CaFile, Authority.CertificatePem);
        await File.WriteAllTextAsync(StrangerCaFile, Stranger.CertificatePem);
        await File.WriteAllTextAsync(PasswordFile, Password + "\n");
        await Task.WhenAll(StartRedisAsync(), StartPostgresAsync());
    }

    private async Task StartRedisAsync()
    {
        var (certificate, key) = Authority.IssueServerCertificate("localhost", IPAddress.Loopback);
        var certificateFile = Path.Combine(_files.FullName, "redis.crt");
        var keyFile = Path.Combine(_files.FullName, "redis.key");
        await File.WriteAllTextAsync(certificateFile, certificate);
        await File.WriteAllTextAsync(keyFile, key);
        RedisTlsPort = ProcessRedisServers.FreeLoopbackPort();
        _redis = await ProcessRedisServers.CreateAsync(1, _ =>
        [
            "--tls-port", RedisTlsPort.ToString(CultureInfo.InvariantCulture),
            "--tls-cert-file", certificateFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", CaFile,
            "--tls-auth-clients", "no", // the worker proves itself with its ACL user, not a client certificate
        ]);
        var admin = ConfigurationOptions.Parse(_redis.ConnectionString(0));
        admin.AllowAdmin = true;
        _admin = await ConnectionMultiplexer.ConnectAsync(admin);
        // What a least-privilege deployment grants (docs/security.md): every key, no dangerous commands.
        await RedisAdmin.ExecuteAsync("ACL", "SETUSER", User, "reset", "on", ">" + Password, "~*", "&*", "+@all", "-@dangerous");
        // The test's own connection becomes an admin user, and the default user is switched off, as in production: with
        // the default user on and passwordless, StackExchange.Redis carries on as that user after a refused login.
        await RedisAdmin.ExecuteAsync("ACL", "SETUSER", AdminUser, "reset", "on", ">" + AdminPassword, "~*", "&*", "+@all");
        await RedisAdmin.ExecuteAsync("AUTH", AdminUser, AdminPassword);
        await RedisAdmin.ExecuteAsync("ACL", "SETUSER", "default", "off");
        await _admin.DisposeAsync();
        admin.User = AdminUser;
        admin.Password = AdminPassword;
        _admin = await ConnectionMultiplexer.ConnectAsync(admin);
    }

    private async Task StartPostgresAsync()
    {
        var (certificate, key) = Authority.IssueServerCertificate("localhost", IPAddress.Loopback);
        _postgres = await ProcessPostgresServer.CreateAsync("logical", new PostgresTls(certificate, key,
        [
            "local all all trust",
            "host all postgres 127.0.0.1/32 trust",
            $"hostssl all {User} 127.0.0.1/32 scram-sha-256",
            $"hostnossl all {User} 127.0.0.1/32 reject",
        ]));
        PostgresPort = _postgres.Port;
        // A superuser so the direct source may create its publication's slot and the dead-letter table in any test database.
        await _postgres.ExecuteAsync("postgres", $"CREATE ROLE {User} LOGIN REPLICATION SUPERUSER PASSWORD '{Password.Replace("'", "''", StringComparison.Ordinal)}'");
    }

    public async Task DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        Authority.Dispose();
        Stranger.Dispose();
        _files.Delete(recursive: true);
    }
}

/// <summary>Tests on the TLS servers: <c>[Collection(SecureServersCollection.Name)]</c>.</summary>
[CollectionDefinition(Name)]
public sealed class SecureServersCollection : ICollectionFixture<SecureServersFixture>
{
    public const string Name = "secure servers";
}
