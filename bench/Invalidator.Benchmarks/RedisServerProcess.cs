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
    private readonly Process _process;
    private readonly string _directory;

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
        var executable = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server not found: apt-get install redis-server (or run .ci/run once)");
        var port = FreePort();
        var directory = Directory.CreateTempSubdirectory("invalidator-bench-redis-").FullName;
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

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start redis-server");
        lock (Started)
        {
            Started.Add(process);
        }

        var server = new RedisServerProcess(process, port, directory);
        var clock = Stopwatch.StartNew();
        while (!await PingAsync(port).ConfigureAwait(false))
        {
            if (process.HasExited || clock.Elapsed > TimeSpan.FromSeconds(15))
            {
                await server.DisposeAsync().ConfigureAwait(false);
                throw new InvalidOperationException($"redis-server on port {port} did not answer PING (exited: {process.HasExited})");
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        return server;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(); // by PID: this Process object is the one we started
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        await _process.WaitForExitAsync().ConfigureAwait(false);
        lock (Started)
        {
            Started.Remove(_process);
        }

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
