using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Invalidator.Benchmarks;

/// <summary>
/// A TCP proxy on loopback that delays every byte by a fixed time in each direction, so a local redis-server
/// answers like one in another region (round trip = 2 × the delay). Order is kept; bandwidth is not limited.
/// </summary>
internal sealed class LatencyProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int _targetPort;
    private readonly TimeSpan _delay;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private readonly List<TcpClient> _clients = [];
    private readonly Task _accepting;

    private LatencyProxy(int targetPort, TimeSpan oneWayDelay)
    {
        _targetPort = targetPort;
        _delay = oneWayDelay;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static LatencyProxy Start(int targetPort, TimeSpan oneWayDelay) => new(targetPort, oneWayDelay);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var server = new TcpClient { NoDelay = true };
            client.NoDelay = true;
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token).ConfigureAwait(false);
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

    /// <summary>Reads from one side and writes to the other once each chunk is <c>delay</c> old.</summary>
    private async Task PumpAsync(TcpClient from, TcpClient to)
    {
        var chunks = Channel.CreateUnbounded<(long At, byte[] Bytes)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(async () =>
        {
            try
            {
                var output = to.GetStream();
                await foreach (var (at, bytes) in chunks.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
                {
                    var wait = _delay - Stopwatch.GetElapsedTime(at);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, _stop.Token).ConfigureAwait(false);
                    }

                    await output.WriteAsync(bytes, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or SocketException)
            {
                // The connection or the proxy ended.
            }
        });

        try
        {
            var input = from.GetStream();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var read = await input.ReadAsync(buffer, _stop.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                await chunks.Writer.WriteAsync((Stopwatch.GetTimestamp(), buffer.AsSpan(0, read).ToArray()), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or SocketException)
        {
            // The connection or the proxy ended.
        }

        chunks.Writer.TryComplete();
        await writer.ConfigureAwait(false);
        try
        {
            to.Client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _accepting.ConfigureAwait(false);
        Task[] tasks;
        lock (_tasks)
        {
            tasks = [.. _tasks];
            foreach (var client in _clients)
            {
                client.Dispose();
            }
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        _stop.Dispose();
    }
}
