using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;

namespace Invalidator.IntegrationTests.Infrastructure.Redis;

/// <summary>
/// Every command a Redis server executes, as <c>MONITOR</c> prints it (<c>1700000000.1 [0 127.0.0.1:5000] "UNLINK" "a" "b"</c>):
/// how a test sees which keys went into one command. Reads on a raw connection of its own until disposed.
/// </summary>
public sealed class RedisMonitor : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly Task _reading;

    private RedisMonitor(TcpClient client)
    {
        _client = client;
        _reading = ReadAsync();
    }

    public static async Task<RedisMonitor> StartAsync(string hostAndPort)
    {
        var colon = hostAndPort.LastIndexOf(':');
        var client = new TcpClient();
        await client.ConnectAsync(hostAndPort[..colon], int.Parse(hostAndPort[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
        await client.GetStream().WriteAsync("MONITOR\r\n"u8.ToArray()).ConfigureAwait(false);
        var monitor = new RedisMonitor(client);
        await Eventually.AssertAsync(() => monitor._lines.Any(l => l == "+OK"), TimeSpan.FromSeconds(10), "the server starts monitoring").ConfigureAwait(false);
        return monitor;
    }

    /// <summary>The commands seen so far whose text contains <paramref name="fragment"/>.</summary>
    public IReadOnlyList<string> Commands(string fragment) => _lines.Where(l => l.Contains(fragment, StringComparison.Ordinal)).ToList();

    private async Task ReadAsync()
    {
        using var reader = new StreamReader(_client.GetStream(), Encoding.UTF8);
        try
        {
            while (await reader.ReadLineAsync(_stop.Token).ConfigureAwait(false) is { } line)
            {
                _lines.Enqueue(line);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Disposed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _client.Dispose();
        await _reading.ConfigureAwait(false);
        _stop.Dispose();
    }
}
