using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Infrastructure.Redis;

/// <summary>
/// A Redis primary with one replica (<see cref="ReplicatedRedis"/>) watched by three Sentinels (<c>redis-sentinel</c>,
/// quorum 2, a primary down after 1 s), all local processes this object owns and ends by PID. Each instance has its
/// own service name, so tests never share a failover. The region's configuration string is <see cref="RegionRedis"/>:
/// the Sentinels' addresses and <c>serviceName=</c>, from which StackExchange.Redis finds the primary and follows a failover.
/// </summary>
public sealed class SentinelRedis : IAsyncDisposable
{
    private const int Count = 3;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private static readonly ConcurrentDictionary<int, Process> Running = new();

    private readonly List<(int Port, Process Process)> _sentinels = [];
    private readonly DirectoryInfo _directory;
    private ConnectionMultiplexer? _admin;

    static SentinelRedis() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var process in Running.Values)
        {
            TryKill(process);
        }
    };

    private SentinelRedis(ReplicatedRedis servers, string serviceName)
    {
        Servers = servers;
        ServiceName = serviceName;
        _directory = Directory.CreateTempSubdirectory("invalidator-sentinel-");
    }

    /// <summary>The primary (first) and the replica: the one Sentinel promotes when the primary dies.</summary>
    public ReplicatedRedis Servers { get; }

    public string ServiceName { get; }

    /// <summary>The Sentinels' addresses and the service name: a region's <c>Redis</c>.</summary>
    public string RegionRedis => string.Join(",", _sentinels.Select(s => $"127.0.0.1:{s.Port}")) + $",serviceName={ServiceName}";

    public static async Task<SentinelRedis> StartAsync(string serviceName)
    {
        var executable = ProcessRedisServers.FindExecutable("redis-sentinel")
            ?? throw new InvalidOperationException("redis-sentinel not found: run .ci/run or apt-get install redis-sentinel");
        var servers = await ReplicatedRedis.StartAsync().ConfigureAwait(false);
        var sentinel = new SentinelRedis(servers, serviceName);
        try
        {
            for (var i = 0; i < Count; i++)
            {
                sentinel.StartSentinel(executable);
            }

            var options = ConfigurationOptions.Parse(string.Join(",", sentinel._sentinels.Select(s => $"127.0.0.1:{s.Port}")));
            options.CommandMap = CommandMap.Sentinel;
            options.AbortOnConnectFail = false;
            options.AllowAdmin = true;
            sentinel._admin = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
            await sentinel.WaitUntilWatchingAsync().ConfigureAwait(false);
            return sentinel;
        }
        catch
        {
            await sentinel.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The primary's "host:port" as every Sentinel names it (null while they disagree or do not answer).</summary>
    public async Task<string?> PrimaryAsync()
    {
        string? agreed = null;
        foreach (var (port, _) in _sentinels)
        {
            var reply = (RedisResult[]?)await _admin!.GetServer("127.0.0.1", port)
                .ExecuteAsync("SENTINEL", "get-master-addr-by-name", ServiceName).ConfigureAwait(false);
            var address = reply is { Length: 2 } ? $"{reply[0]}:{reply[1]}" : null;
            if (address is null || (agreed is not null && agreed != address))
            {
                return null;
            }

            agreed = address;
        }

        return agreed;
    }

    /// <summary>Waits until every Sentinel names the replica the primary and it answers as one: the failover is done.</summary>
    public async Task WaitForPromotionAsync()
    {
        await Eventually.AssertAsync(
            async () => await PrimaryAsync().ConfigureAwait(false) == Servers.Replica
                && (await Servers.ReplicaServer.ExecuteAsync("ROLE").ConfigureAwait(false))[0].ToString() == "master",
            Deadline,
            $"every Sentinel names {Servers.Replica} the primary of {ServiceName}, and it is one").ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var (_, process) in _sentinels)
        {
            TryKill(process);
            await process.WaitForExitAsync().ConfigureAwait(false);
            Running.TryRemove(process.Id, out _);
            process.Dispose();
        }

        await Servers.DisposeAsync().ConfigureAwait(false);
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is harmless.
        }
    }

    /// <summary>Each Sentinel knows the primary, its replica and the two other Sentinels: a failover can start.</summary>
    private Task WaitUntilWatchingAsync() => Eventually.AssertAsync(
        async () =>
        {
            foreach (var (port, _) in _sentinels)
            {
                var fields = (RedisResult[])(await _admin!.GetServer("127.0.0.1", port).ExecuteAsync("SENTINEL", "master", ServiceName).ConfigureAwait(false))!;
                var info = Enumerable.Range(0, fields.Length / 2).ToDictionary(i => fields[2 * i].ToString(), i => fields[(2 * i) + 1].ToString());
                if (info.GetValueOrDefault("num-slaves") != "1" || info.GetValueOrDefault("num-other-sentinels") != (Count - 1).ToString(CultureInfo.InvariantCulture))
                {
                    return false;
                }
            }

            return true;
        },
        Deadline,
        "every Sentinel sees the primary, its replica and the other Sentinels");

    private void StartSentinel(string executable)
    {
        var port = ProcessRedisServers.FreeLoopbackPort();
        var primaryPort = Servers.Primary.Split(':')[1];
        var config = Path.Combine(_directory.FullName, $"sentinel-{port}.conf");
        // Sentinel rewrites its configuration file (what it learned, its own id), so each has its own, writable.
        File.WriteAllLines(config,
        [
            $"port {port}",
            "bind 127.0.0.1",
            "daemonize no",
            $"dir {_directory.FullName}",
            $"logfile {Path.Combine(_directory.FullName, $"sentinel-{port}.log")}",
            $"sentinel monitor {ServiceName} 127.0.0.1 {primaryPort} 2",
            $"sentinel down-after-milliseconds {ServiceName} 1000",
            $"sentinel failover-timeout {ServiceName} 5000",
            $"sentinel parallel-syncs {ServiceName} 1",
        ]);
        var start = new ProcessStartInfo(executable) { UseShellExecute = false };
        start.ArgumentList.Add(config);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}");
        Running[process.Id] = process;
        _sentinels.Add((port, process));
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
}
