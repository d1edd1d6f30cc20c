using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Invalidator.IntegrationTests.Infrastructure.Postgres;

/// <summary>
/// A throwaway cluster from the apt package's initdb in a temp directory, run by this class as a foreground
/// <c>postgres</c> process on a free loopback port, and ended by its PID. initdb and postgres refuse to run as
/// root, so as root they run as the <c>postgres</c> user through setpriv, which execs (the PID stays ours).
/// </summary>
internal sealed class ProcessPostgresServer : PostgresServer
{
    private const string OsUser = "postgres";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    // Killed on process exit too, so an aborted test run leaves no servers behind.
    private static readonly ConcurrentDictionary<int, Process> Running = new();

    private readonly string _binaries;
    private readonly DirectoryInfo _directory;
    private readonly int _port;
    private readonly StreamWriter _log;
    private Process? _process;

    static ProcessPostgresServer() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var process in Running.Values)
        {
            TryKill(process);
        }
    };

    private ProcessPostgresServer(string binaries, DirectoryInfo directory)
    {
        _binaries = binaries;
        _directory = directory;
        _port = FreeLoopbackPort();
        _log = new StreamWriter(Path.Combine(directory.FullName, "postgres.log")) { AutoFlush = true };
    }

    private string DataDirectory => Path.Combine(_directory.FullName, "data");

    /// <summary>Adds a setting to <c>postgresql.auto.conf</c> (a later line wins) and reloads the server's configuration.</summary>
    public async Task AppendConfigurationAsync(string line)
    {
        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.auto.conf"), line + "\n").ConfigureAwait(false);
        await ExecuteAsync("postgres", "SELECT pg_reload_conf()").ConfigureAwait(false);
    }

    /// <param name="walLevel">The server's wal_level.</param>
    /// <param name="tls">TLS on (ssl=on with this certificate) and these pg_hba.conf lines instead of initdb's trust for all.</param>
    public static async Task<ProcessPostgresServer> CreateAsync(string walLevel, PostgresTls? tls = null)
    {
        var binaries = FindBinaries() ?? throw new InvalidOperationException(
            "PostgreSQL was not found (no /usr/lib/postgresql/<version>/bin/initdb) and Docker is not available: " +
            "run .ci/run, or apt-get install postgresql, or start a Docker engine.");
        var server = new ProcessPostgresServer(binaries, Directory.CreateTempSubdirectory("invalidator-pg-"));
        try
        {
            await server.StartAsync(walLevel, tls).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = _port,
            Username = "postgres",
            Database = database,
            Pooling = false, // tests drop databases; pooled idle connections would hold them
            Timeout = 10,
        }.ConnectionString;

    /// <summary>The port it listens on (127.0.0.1).</summary>
    public int Port => _port;

    /// <summary>
    /// A streaming standby of <paramref name="primary"/>: its data directory is a <c>pg_basebackup -R</c> of the primary
    /// (which writes <c>primary_conninfo</c> and <c>standby.signal</c>), in a temp directory of its own, on its own port.
    /// </summary>
    public static async Task<ProcessPostgresServer> CreateStandbyAsync(ProcessPostgresServer primary)
    {
        ArgumentNullException.ThrowIfNull(primary);
        var server = new ProcessPostgresServer(primary._binaries, Directory.CreateTempSubdirectory("invalidator-pg-standby-"));
        try
        {
            await server.StartAsync("logical", tls: null, standbyOf: primary).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartAsync(string walLevel, PostgresTls? tls, ProcessPostgresServer? standbyOf = null)
    {
        if (IsRoot)
        {
            await RunAsync("chown", ["-R", $"{OsUser}:{OsUser}", _directory.FullName]).ConfigureAwait(false);
        }

        if (standbyOf is null)
        {
            await RunAsync(AsPostgresUser(Path.Combine(_binaries, "initdb")), AsPostgresUserArguments(
                Path.Combine(_binaries, "initdb"), "-D", DataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")).ConfigureAwait(false);
        }
        else
        {
            // initdb's default pg_hba.conf trusts replication connections from 127.0.0.1, which this uses.
            await RunAsync(AsPostgresUser(Path.Combine(_binaries, "pg_basebackup")), AsPostgresUserArguments(
                Path.Combine(_binaries, "pg_basebackup"), "-D", DataDirectory, "-h", "127.0.0.1", "-p", standbyOf.Port.ToString(CultureInfo.InvariantCulture),
                "-U", "postgres", "-R", "-X", "stream", "-c", "fast", "--no-sync")).ConfigureAwait(false);
        }

        var tlsArguments = tls is null ? [] : await ConfigureTlsAsync(tls).ConfigureAwait(false);
        var start = new ProcessStartInfo(AsPostgresUser(Path.Combine(_binaries, "postgres")))
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = _directory.FullName,
        };
        string[] arguments =
        [
            "-D", DataDirectory, "-p", _port.ToString(CultureInfo.InvariantCulture),
            "-k", _directory.FullName, "-c", "listen_addresses=127.0.0.1", "-c", $"wal_level={walLevel}",
            "-c", "max_replication_slots=32", "-c", "max_wal_senders=32", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=100", .. tlsArguments,
        ];
        foreach (var argument in AsPostgresUserArguments(Path.Combine(_binaries, "postgres"), arguments))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start postgres");
        process.ErrorDataReceived += (_, e) => WriteLog(e.Data);
        process.OutputDataReceived += (_, e) => WriteLog(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;
        Running[process.Id] = process;

        var clock = Stopwatch.StartNew();
        while (!await AcceptsConnectionsAsync().ConfigureAwait(false))
        {
            if (process.HasExited || clock.Elapsed > StartTimeout)
            {
                TryKill(process);
                throw new InvalidOperationException(
                    $"postgres on port {_port} did not accept connections within {StartTimeout.TotalSeconds} s (exited: {process.HasExited}). " +
                    $"Log:{Environment.NewLine}{Tail()}");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    /// <summary>Writes the certificate, its key (mode 0600, owned by the server's user, as postgres demands) and pg_hba.conf into the data directory.</summary>
    private async Task<string[]> ConfigureTlsAsync(PostgresTls tls)
    {
        var certificate = Path.Combine(DataDirectory, "server.crt");
        var key = Path.Combine(DataDirectory, "server.key");
        var hba = Path.Combine(DataDirectory, "pg_hba.conf");
        await File.WriteAllTextAsync(certificate, tls.CertificatePem).ConfigureAwait(false);
        await File.WriteAllTextAsync(key, tls.KeyPem).ConfigureAwait(false);
        await File.WriteAllLinesAsync(hba, tls.HbaLines).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        if (IsRoot)
        {
            await RunAsync("chown", [$"{OsUser}:{OsUser}", certificate, key, hba]).ConfigureAwait(false);
        }

        return ["-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key", "-c", "password_encryption=scram-sha-256"];
    }

    private async Task<bool> AcceptsConnectionsAsync()
    {
        try
        {
            await using var connection = new NpgsqlConnection(ConnectionString());
            await connection.OpenAsync().ConfigureAwait(false);
            return true;
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            // An immediate shutdown (pg_ctl signals our PID from postmaster.pid) ends the children and frees shared
            // memory without waiting for walsenders; these servers are throwaway. SIGKILL if that fails.
            try
            {
                await RunAsync(AsPostgresUser(Path.Combine(_binaries, "pg_ctl")), AsPostgresUserArguments(
                    Path.Combine(_binaries, "pg_ctl"), "stop", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "20")).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                TryKill(process);
            }

            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                try
                {
                    await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    TryKill(process);
                    await process.WaitForExitAsync().ConfigureAwait(false);
                }
            }

            Running.TryRemove(process.Id, out _);
            process.Dispose();
            _process = null;
        }

        await _log.DisposeAsync().ConfigureAwait(false);
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temp directory is harmless.
        }
    }

    private void WriteLog(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.WriteLine(line);
        }
    }

    private string Tail()
    {
        try
        {
            lock (_log)
            {
                using var stream = new FileStream(Path.Combine(_directory.FullName, "postgres.log"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(stream);
                return string.Join(Environment.NewLine, reader.ReadToEnd().Split('\n').TakeLast(30));
            }
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    // setpriv execs the program as the postgres user without forking, so the started process is postgres itself.
    private static string AsPostgresUser(string program) => IsRoot ? "setpriv" : program;

    private static string[] AsPostgresUserArguments(string program, params string[] arguments) =>
        IsRoot ? ["--reuid", OsUser, "--regid", OsUser, "--init-groups", "--", program, .. arguments] : arguments;

    private async Task RunAsync(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = _directory.FullName,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{program} {string.Join(' ', start.ArgumentList)} exited with {process.ExitCode}:{Environment.NewLine}{await output.ConfigureAwait(false)}{await error.ConfigureAwait(false)}");
        }
    }

    private static void TryKill(Process process)
    {
        try
        {
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    private static string? FindBinaries()
    {
        const string root = "/usr/lib/postgresql";
        if (!Directory.Exists(root))
        {
            return null;
        }

        return Directory.EnumerateDirectories(root)
            .Select(dir => (Dir: dir, Version: int.TryParse(Path.GetFileName(dir), out var v) ? v : -1))
            .Where(d => File.Exists(Path.Combine(d.Dir, "bin", "initdb")))
            .OrderByDescending(d => d.Version)
            .Select(d => Path.Combine(d.Dir, "bin"))
            .FirstOrDefault();
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A TLS server: its certificate and key (PEM), and the pg_hba.conf lines that say who may connect how.</summary>
public sealed record PostgresTls(string CertificatePem, string KeyPem, IReadOnlyList<string> HbaLines);
