using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Invalidator.IntegrationTests.Infrastructure.Redis;

/// <summary>
/// redis-server processes on free loopback ports, started in the foreground so this class owns each
/// Process and ends it by its PID.
/// </summary>
internal sealed class ProcessRedisServers : RedisServers
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    // Killed on process exit too, so an aborted test run leaves no servers behind.
    private static readonly ConcurrentDictionary<int, Process> Running = new();

    private readonly string _executable;
    private readonly DirectoryInfo _directory;
    private readonly Server[] _servers;
    private readonly Func<int, IEnumerable<string>> _extraArguments;

    static ProcessRedisServers() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var process in Running.Values)
        {
            TryKill(process);
        }
    };

    private ProcessRedisServers(string executable, DirectoryInfo directory, int count, Func<int, IEnumerable<string>>? extraArguments)
    {
        _executable = executable;
        _directory = directory;
        _extraArguments = extraArguments ?? (_ => []);
        _servers = Enumerable.Range(0, count).Select(_ => new Server(FreeLoopbackPort())).ToArray();
    }

    public override int Count => _servers.Length;

    /// <param name="count">How many servers.</param>
    /// <param name="extraArguments">More redis-server arguments for the server on a given port (for example cluster mode).</param>
    public static async Task<ProcessRedisServers> CreateAsync(int count, Func<int, IEnumerable<string>>? extraArguments = null)
    {
        var executable = FindExecutable("redis-server")
            ?? throw new InvalidOperationException(
                "redis-server not found: run .ci/run or apt-get install redis-server");
        var servers = new ProcessRedisServers(executable, Directory.CreateTempSubdirectory("invalidator-redis-"), count, extraArguments);
        try
        {
            await Task.WhenAll(Enumerable.Range(0, count).Select(servers.StartAsync)).ConfigureAwait(false);
            return servers;
        }
        catch
        {
            await servers.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override string ConnectionString(int index) => $"127.0.0.1:{_servers[index].Port}";

    public int Port(int index) => _servers[index].Port;

    /// <summary>
    /// Sends <paramref name="signal"/> (<c>STOP</c>, <c>CONT</c>) to server <paramref name="index"/>'s own process, by its
    /// PID: a stopped server holds its sockets open but answers nothing, as a frozen or partitioned host does.
    /// </summary>
    public async Task SignalAsync(int index, string signal)
    {
        var process = _servers[index].Process ?? throw new InvalidOperationException($"Server {index} is not running");
        using var kill = Process.Start("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            ?? throw new InvalidOperationException("Could not start kill");
        await kill.WaitForExitAsync().ConfigureAwait(false);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {process.Id} exited with {kill.ExitCode}");
        }
    }

    /// <summary>The directory of the servers' files (logs, snapshots, cluster node files).</summary>
    public string DataDirectory => _directory.FullName;

    public override async Task StartAsync(int index)
    {
        var server = _servers[index];
        await server.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (server.Process is { HasExited: false })
            {
                return;
            }

            var log = Path.Combine(_directory.FullName, $"redis-{server.Port}.log");
            var start = new ProcessStartInfo(_executable) { UseShellExecute = false };
            foreach (var arg in new[]
            {
                "--port", server.Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", _directory.FullName, "--logfile", log,
                // Own snapshot file per server: a test can SAVE before a kill and the restart loads it,
                // like a region that comes back with stale entries after a partition.
                "--dbfilename", $"dump-{server.Port}.rdb",
            }.Concat(_extraArguments(server.Port)))
            {
                start.ArgumentList.Add(arg);
            }

            var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {_executable}");
            server.Process = process;
            Running[process.Id] = process;

            var clock = Stopwatch.StartNew();
            while (!await PingAsync(server.Port).ConfigureAwait(false))
            {
                if (process.HasExited || clock.Elapsed > StartTimeout)
                {
                    TryKill(process);
                    throw new InvalidOperationException(
                        $"redis-server on port {server.Port} did not answer PING within {StartTimeout.TotalSeconds} s " +
                        $"(exited: {process.HasExited}). Log:{Environment.NewLine}{Tail(log)}");
                }

                await Task.Delay(20).ConfigureAwait(false);
            }
        }
        finally
        {
            server.Gate.Release();
        }
    }

    public override async Task KillAsync(int index)
    {
        var server = _servers[index];
        await server.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (server.Process is { } process)
            {
                TryKill(process);
                await process.WaitForExitAsync().ConfigureAwait(false);
                Forget(server);
            }
        }
        finally
        {
            server.Gate.Release();
        }
    }

    public override async Task StopAsync(int index)
    {
        var server = _servers[index];
        await server.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (server.Process is not { } process)
            {
                return;
            }

            try
            {
                await SendAsync(server.Port, "SHUTDOWN NOSAVE\r\n").ConfigureAwait(false);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
            {
                TryKill(process);
                await process.WaitForExitAsync().ConfigureAwait(false);
            }

            Forget(server);
        }
        finally
        {
            server.Gate.Release();
        }
    }

    public override async ValueTask DisposeAsync()
    {
        foreach (var server in _servers)
        {
            if (server.Process is { } process)
            {
                TryKill(process);
                await process.WaitForExitAsync().ConfigureAwait(false);
                Forget(server);
            }
        }

        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is harmless.
        }
    }

    private static void Forget(Server server)
    {
        if (server.Process is { } process)
        {
            Running.TryRemove(process.Id, out _);
            process.Dispose();
            server.Process = null;
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

    private static async Task<bool> PingAsync(int port)
    {
        try
        {
            return (await SendAsync(port, "PING\r\n").ConfigureAwait(false)).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    // A raw RESP exchange: readiness and shutdown need no client library or admin-mode connection.
    private static async Task<string> SendAsync(int port, string command)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token).ConfigureAwait(false);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command), timeout.Token).ConfigureAwait(false);
        var buffer = new byte[64];
        var read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }

    internal static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A Redis program (redis-server, redis-cli) on PATH or in the usual directories; null when absent.</summary>
    internal static string? FindExecutable(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/sbin", "/usr/local/bin"])
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
    }

    internal static string Tail(string file)
    {
        try
        {
            return string.Join(Environment.NewLine, File.ReadLines(file).TakeLast(20));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    private sealed class Server(int port)
    {
        public int Port { get; } = port;

        public SemaphoreSlim Gate { get; } = new(1, 1);

        public Process? Process { get; set; }
    }
}
