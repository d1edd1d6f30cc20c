using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Invalidator.Benchmarks;

/// <summary>
/// A redis-server started by the benchmark on a free loopback port, in the foreground so this class owns the
/// Process and ends it by its PID (also on Ctrl+C or an unhandled exception: see <see cref="KillAllOnExit"/>).
/// </summary>
internal sealed class RedisServerProcess : IAsyncDisposable
{
    private static readonly List<Process> Started = [];
    private readonly string _directory;
    private Process _process;

    private RedisServerProcess(Process process, int port, string directory)
    {
        _process = process;
        Port = port;
        _directory = directory;
    }

    public int Port { get; }

    /// <summary>The server's process id (for its CPU time in /proc).</summary>
    public int ProcessId => _process.Id;

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <param name="extraArguments">More redis-server arguments (for example <c>--replicaof 127.0.0.1 port</c>).</param>
    public static async Task<RedisServerProcess> StartAsync(params string[] extraArguments)
    {
        KillAllOnExit();
        var port = FreePort();
        var directory = Directory.CreateTempSubdirectory("invalidator-bench-redis-").FullName;
        var server = new RedisServerProcess(Launch(port, directory, extraArguments), port, directory);
        await server.WaitForPingAsync().ConfigureAwait(false);
        return server;
    }

    /// <summary>
    /// Starts redis-sentinel with <paramref name="configuration"/> lines (a file in this server's own directory,
    /// which Sentinel rewrites with what it learns) on a free port; ended by PID like a server.
    /// </summary>
    public static async Task<RedisServerProcess> StartSentinelAsync(Func<int, IEnumerable<string>> configuration)
    {
        KillAllOnExit();
        var executable = new[] { "/usr/bin/redis-sentinel", "/usr/local/bin/redis-sentinel" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-sentinel not found: apt-get install redis-sentinel (or run .ci/run once)");
        var port = FreePort();
        var directory = Directory.CreateTempSubdirectory("invalidator-bench-sentinel-").FullName;
        var file = Path.Combine(directory, "sentinel.conf");
        await File.WriteAllLinesAsync(file, [$"port {port}", "bind 127.0.0.1", "daemonize no", $"dir {directory}",
            $"logfile {Path.Combine(directory, "sentinel.log")}", .. configuration(port)]).ConfigureAwait(false);
        var start = new ProcessStartInfo(executable) { UseShellExecute = false };
        start.ArgumentList.Add(file);
        var server = new RedisServerProcess(Track(Process.Start(start) ?? throw new InvalidOperationException("could not start redis-sentinel")), port, directory);
        await server.WaitForPingAsync().ConfigureAwait(false);
        return server;
    }

    /// <summary>Sends <paramref name="signal"/> (<c>STOP</c>, <c>CONT</c>) to this server's process, by its PID.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            ?? throw new InvalidOperationException("could not start kill");
        await kill.WaitForExitAsync().ConfigureAwait(false);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {_process.Id} exited with {kill.ExitCode}");
        }
    }

    /// <summary>SIGKILLs the server, as a crash would (nothing is saved: the benchmark's servers have no persistence).</summary>
    public async Task KillAsync()
    {
        Stop(_process);
        await _process.WaitForExitAsync().ConfigureAwait(false);
    }

    /// <summary>Starts a killed server again on its port, empty, with <paramref name="extraArguments"/> (none: a primary of its own).</summary>
    public async Task RestartAsync(params string[] extraArguments)
    {
        Forget(_process);
        _process.Dispose();
        _process = Launch(Port, _directory, extraArguments);
        await WaitForPingAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        Stop(_process);
        await _process.WaitForExitAsync().ConfigureAwait(false);
        Forget(_process);
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is harmless.
        }
    }

    private static Process Launch(int port, string directory, IEnumerable<string> extraArguments)
    {
        var executable = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server not found: apt-get install redis-server (or run .ci/run once)");
        var start = new ProcessStartInfo(executable) { UseShellExecute = false };
        foreach (var arg in new[]
        {
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", directory,
            "--logfile", Path.Combine(directory, "redis.log"),
        }.Concat(extraArguments))
        {
            start.ArgumentList.Add(arg);
        }

        return Track(Process.Start(start) ?? throw new InvalidOperationException("could not start redis-server"));
    }

    private static Process Track(Process process)
    {
        lock (Started)
        {
            Started.Add(process);
        }

        return process;
    }

    private static void Forget(Process process)
    {
        lock (Started)
        {
            Started.Remove(process);
        }
    }

    private static void Stop(Process process)
    {
        try
        {
            process.Kill(); // by PID: this Process object is the one we started
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    private async Task WaitForPingAsync()
    {
        var clock = Stopwatch.StartNew();
        while (!await PingAsync(Port).ConfigureAwait(false))
        {
            if (_process.HasExited || clock.Elapsed > TimeSpan.FromSeconds(15))
            {
                var exited = _process.HasExited;
                await DisposeAsync().ConfigureAwait(false);
                throw new InvalidOperationException($"redis on port {Port} did not answer PING (exited: {exited})");
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    private static int _hooked;

    private static void KillAllOnExit()
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 1)
        {
            return;
        }

        void KillAll()
        {
            lock (Started)
            {
                foreach (var process in Started)
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
            }
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        Console.CancelKeyPress += (_, _) => KillAll();
    }

    private static async Task<bool> PingAsync(int port)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
