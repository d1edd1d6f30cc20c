using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Invalidator.IntegrationTests.Probe;

/// <summary>
/// A TCP proxy on loopback in front of one region's redis-server, so a test can take that region away
/// (<see cref="Cut"/>: every connection closed, new ones closed at once) or slow it (<see cref="Delay"/>: every chunk
/// held that long in each direction, order kept) without touching the shared server the other tests use.
/// </summary>
internal sealed class RegionProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private readonly List<TcpClient> _clients = [];
    private readonly Task _accepting;
    private long _delayTicks;
    private volatile bool _cut;

    public RegionProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = Task.Run(AcceptAsync);
    }

    public string ConnectionString => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>How long each chunk waits in each direction (a round trip costs twice this).</summary>
    public TimeSpan Delay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));
        set => Interlocked.Exchange(ref _delayTicks, value.Ticks);
    }

    /// <summary>The region is gone: open connections are closed, new ones are closed as soon as they are accepted.</summary>
    public void Cut()
    {
        _cut = true;
        lock (_tasks)
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }

            _clients.Clear();
        }
    }

    /// <summary>The region is back: new connections reach the server again.</summary>
    public void Restore() => _cut = false;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            if (_cut)
            {
                client.Dispose();
                continue;
            }

            var server = new TcpClient { NoDelay = true };
            client.NoDelay = true;
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }

            lock (_tasks)
            {
                _clients.Add(client);
                _clients.Add(server);
                _tasks.Add(PumpAsync(client, server));
                _tasks.Add(PumpAsync(server, client));
            }
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to)
    {
        var chunks = Channel.CreateUnbounded<(long At, byte[] Bytes)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(async () =>
        {
            try
            {
                var output = to.GetStream();
                await foreach (var (at, bytes) in chunks.Reader.ReadAllAsync(_stop.Token))
                {
                    var wait = Delay - Stopwatch.GetElapsedTime(at);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, _stop.Token);
                    }

                    await output.WriteAsync(bytes, _stop.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or SocketException or InvalidOperationException)
            {
                // The connection was cut or the proxy ended.
            }
        });

        try
        {
            var input = from.GetStream();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var read = await input.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                await chunks.Writer.WriteAsync((Stopwatch.GetTimestamp(), buffer.AsSpan(0, read).ToArray()), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
            // The connection was cut or the proxy ended.
        }

        chunks.Writer.TryComplete();
        await writer;
        from.Dispose();
        to.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] tasks;
        lock (_tasks)
        {
            tasks = [.. _tasks];
            foreach (var client in _clients)
            {
                client.Dispose();
            }
        }

        await Task.WhenAll(tasks);
        _stop.Dispose();
    }
}
