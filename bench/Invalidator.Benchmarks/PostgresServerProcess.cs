using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Invalidator.Benchmarks;

/// <summary>
/// A throwaway PostgreSQL cluster for the race benchmark: initdb in a temp directory, started and stopped with the apt
/// package's pg_ctl on a free loopback port (<c>wal_level=logical</c>, no fsync: the figures are about the race, not
/// durability). pg_ctl stops exactly this data directory's server (its postmaster.pid). As root, the binaries run as the
/// <c>postgres</c> user (initdb and postgres refuse root).
/// </summary>
internal sealed class PostgresServerProcess : IAsyncDisposable
{
    private readonly string _binaries;
    private readonly string _directory;

    private PostgresServerProcess(string binaries, string directory, int port)
    {
        _binaries = binaries;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    private string DataDirectory => Path.Combine(_directory, "data");

    /// <summary>A program of this server's PostgreSQL version (the bin directory pg_ctl is run from).</summary>
    public string Binary(string program) => Path.Combine(_binaries, program);

    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Database = database,
        MaxPoolSize = 64,
    }.ConnectionString;

    public static async Task<PostgresServerProcess> StartAsync()
    {
        var binaries = Directory.Exists("/usr/lib/postgresql")
            ? Directory.EnumerateDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb"))).Order().LastOrDefault()
            : null;
        if (binaries is null)
        {
            throw new InvalidOperationException("PostgreSQL not found (/usr/lib/postgresql/<version>/bin/initdb): apt-get install postgresql (or run .ci/run once)");
        }

        var server = new PostgresServerProcess(binaries, Directory.CreateTempSubdirectory("invalidator-bench-pg-").FullName, FreePort());
        await server.OwnDirectoryAsync().ConfigureAwait(false);
        await server.PgAsync("initdb", "-D", server.DataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").ConfigureAwait(false);
        await server.StartServerAsync().ConfigureAwait(false);
        return server;
    }

    /// <summary>
    /// A streaming standby of this server (<c>pg_basebackup -R</c>, which writes <c>primary_conninfo</c> and
    /// <c>standby.signal</c>; initdb's pg_hba.conf trusts replication from 127.0.0.1) that applies each commit
    /// <paramref name="applyDelay"/> after it was made (<c>recovery_min_apply_delay</c>): a read replica with a
    /// controlled replay lag. Readers of it see a change that much later than readers of this server.
    /// </summary>
    public async Task<PostgresServerProcess> StartStandbyAsync(TimeSpan applyDelay)
    {
        var standby = new PostgresServerProcess(_binaries, Directory.CreateTempSubdirectory("invalidator-bench-pg-standby-").FullName, FreePort());
        await standby.OwnDirectoryAsync().ConfigureAwait(false);
        await standby.PgAsync("pg_basebackup", "-D", standby.DataDirectory, "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture),
            "-U", "postgres", "-R", "-X", "stream", "-c", "fast", "--no-sync").ConfigureAwait(false);
        // Readers' queries are never cancelled for a conflict with the replay (vacuum on the primary): the feedback keeps
        // the rows they may still see, and the replay waits for a conflicting query (they take milliseconds).
        await standby.StartServerAsync(
            $"-c hot_standby=on -c hot_standby_feedback=on -c max_standby_streaming_delay=-1 -c recovery_min_apply_delay={(long)applyDelay.TotalMilliseconds}ms")
            .ConfigureAwait(false);
        return standby;
    }

    private async Task OwnDirectoryAsync()
    {
        if (IsRoot)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", _directory]).ConfigureAwait(false);
        }
    }

    private async Task StartServerAsync(string extraOptions = "")
    {
        var options = string.Join(' ',
            $"-p {Port}", $"-k {_directory}", "-c listen_addresses=127.0.0.1", "-c wal_level=logical", "-c max_replication_slots=8",
            "-c max_wal_senders=8", "-c fsync=off", "-c full_page_writes=off", "-c max_connections=200", "-c shared_buffers=256MB", extraOptions);
        await PgAsync("pg_ctl", "start", "-D", DataDirectory, "-l", Path.Combine(_directory, "postgres.log"), "-w", "-t", "60", "-o", options)
            .ConfigureAwait(false);
        // pg_ctl daemonizes the server: stop it also when the benchmark is interrupted.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAsync().GetAwaiter().GetResult();
    }

    public async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await StopAsync().ConfigureAwait(false);

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temp directory is harmless.
        }
    }

    private async Task StopAsync()
    {
        if (!File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            return;
        }

        try
        {
            await PgAsync("pg_ctl", "stop", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "30").ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"postgres did not stop cleanly: {e.Message}");
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    private Task PgAsync(string program, params string[] arguments) =>
        IsRoot
            ? RunAsync("setpriv", ["--reuid", "postgres", "--regid", "postgres", "--init-groups", "--", Path.Combine(_binaries, program), .. arguments])
            : RunAsync(Path.Combine(_binaries, program), arguments);

    private static async Task RunAsync(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} exited with {process.ExitCode}: {await output.ConfigureAwait(false)}{await error.ConfigureAwait(false)}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"postgres on 127.0.0.1:{Port}");
}
