using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Infrastructure.Redis;

/// <summary>
/// A real Redis Cluster of three masters: <c>redis-server --cluster-enabled yes</c> processes on free loopback ports
/// (each with a free cluster bus port), joined with <c>redis-cli --cluster create ... --cluster-yes</c>, and ready once
/// every node reports <c>cluster_state:ok</c> with all 16384 slots assigned.
/// </summary>
/// <remarks>
/// Always local processes, also where Docker is available: a cluster in containers must announce addresses that
/// clients outside Docker can reach (cluster-announce-ip/port/bus-port per node), which the single-server container
/// path does not need. The processes need redis-server and redis-cli (Debian's redis-tools, which redis-server
/// depends on); without them the tests fail, never skip.
/// </remarks>
public sealed class RedisCluster : IAsyncDisposable
{
    private static readonly TimeSpan FormTimeout = TimeSpan.FromSeconds(60);

    private readonly ProcessRedisServers _nodes;
    private readonly string _redisCli;

    private RedisCluster(ProcessRedisServers nodes, string redisCli)
    {
        _nodes = nodes;
        _redisCli = redisCli;
    }

    public int Count => _nodes.Count;

    /// <summary>Every node's "host:port", comma-separated: the seed nodes of a StackExchange.Redis configuration string.</summary>
    public string ConnectionString => string.Join(",", Enumerable.Range(0, _nodes.Count).Select(_nodes.ConnectionString));

    /// <summary>One node's "host:port": a seed from which StackExchange.Redis discovers the others.</summary>
    public string SeedNode(int index) => _nodes.ConnectionString(index);

    public static async Task<RedisCluster> StartAsync(int masters = 3)
    {
        var redisCli = ProcessRedisServers.FindExecutable("redis-cli")
            ?? throw new InvalidOperationException(
                "redis-cli not found: the Redis Cluster tests form their cluster with it. Run .ci/run, or apt-get install redis-tools (redis-server depends on it).");
        var nodes = await ProcessRedisServers.CreateAsync(masters, port =>
        [
            "--cluster-enabled", "yes",
            "--cluster-config-file", $"nodes-{port}.conf", // relative to --dir: one per node
            "--cluster-port", ProcessRedisServers.FreeLoopbackPort().ToString(CultureInfo.InvariantCulture),
            "--cluster-node-timeout", "5000",
        ]).ConfigureAwait(false);
        var cluster = new RedisCluster(nodes, redisCli);
        try
        {
            await cluster.FormAsync().ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A cluster-aware connection (the caller disposes it).</summary>
    public Task<ConnectionMultiplexer> ConnectAsync(string? configuration = null)
    {
        var options = ConfigurationOptions.Parse(configuration ?? ConnectionString);
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 5000;
        return ConnectionMultiplexer.ConnectAsync(options);
    }

    /// <summary>The slot the server computes for a key (<c>CLUSTER KEYSLOT</c>): the authority, not the client's formula.</summary>
    public async Task<int> KeySlotAsync(string key) =>
        int.Parse((await RedisCliAsync(0, "CLUSTER", "KEYSLOT", key).ConfigureAwait(false)).Trim(), CultureInfo.InvariantCulture);

    /// <summary>
    /// CROSSSLOT errors the nodes answered since they started, from <c>INFO errorstats</c>: a multi-key command whose keys
    /// were in different slots reached a server.
    /// </summary>
    public async Task<long> CrossSlotErrorsAsync()
    {
        long total = 0;
        for (var i = 0; i < _nodes.Count; i++)
        {
            foreach (var line in (await RedisCliAsync(i, "INFO", "errorstats").ConfigureAwait(false)).Split('\n'))
            {
                // errorstat_CROSSSLOT:count=3
                if (line.StartsWith("errorstat_CROSSSLOT:count=", StringComparison.Ordinal))
                {
                    total += long.Parse(line["errorstat_CROSSSLOT:count=".Length..].Trim(), CultureInfo.InvariantCulture);
                }
            }
        }

        return total;
    }

    /// <summary>Runs one command on node <paramref name="index"/> with redis-cli (no cluster redirection) and returns its output.</summary>
    public async Task<string> RedisCliAsync(int index, params string[] command)
    {
        var (exitCode, output) = await TryRedisCliAsync(index, command).ConfigureAwait(false);
        return exitCode == 0
            ? output
            : throw new InvalidOperationException($"redis-cli {string.Join(' ', command)} on node {index} exited with {exitCode}: {output}");
    }

    /// <summary>As <see cref="RedisCliAsync"/>, also for a command that answers an error (redis-cli then exits non-zero).</summary>
    public Task<(int ExitCode, string Output)> TryRedisCliAsync(int index, params string[] command) =>
        RunAsync(_redisCli, ["-h", "127.0.0.1", "-p", _nodes.Port(index).ToString(CultureInfo.InvariantCulture), .. command]);

    public ValueTask DisposeAsync() => _nodes.DisposeAsync();

    private async Task FormAsync()
    {
        var addresses = Enumerable.Range(0, _nodes.Count).Select(_nodes.ConnectionString);
        var (exitCode, output) = await RunAsync(_redisCli, ["--cluster", "create", .. addresses, "--cluster-yes"]).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli --cluster create exited with {exitCode}:{Environment.NewLine}{output}");
        }

        var clock = Stopwatch.StartNew();
        while (true)
        {
            var ready = 0;
            for (var i = 0; i < _nodes.Count; i++)
            {
                var info = await RedisCliAsync(i, "CLUSTER", "INFO").ConfigureAwait(false);
                if (info.Contains("cluster_state:ok", StringComparison.Ordinal) && info.Contains("cluster_slots_assigned:16384", StringComparison.Ordinal)
                    && info.Contains($"cluster_known_nodes:{_nodes.Count}", StringComparison.Ordinal))
                {
                    ready++;
                }
            }

            if (ready == _nodes.Count)
            {
                return;
            }

            if (clock.Elapsed > FormTimeout)
            {
                var logs = string.Join(Environment.NewLine, Enumerable.Range(0, _nodes.Count).Select(i =>
                    ProcessRedisServers.Tail(Path.Combine(_nodes.DataDirectory, $"redis-{_nodes.Port(i)}.log"))));
                throw new InvalidOperationException(
                    $"The Redis Cluster did not reach cluster_state:ok on every node within {FormTimeout.TotalSeconds} s ({ready} of {_nodes.Count} ready). Logs:{Environment.NewLine}{logs}");
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        return (process.ExitCode, await output.ConfigureAwait(false) + await error.ConfigureAwait(false));
    }
}

/// <summary>The cluster for every test of the "redis-cluster" collection: started once, its processes ended after the last test.</summary>
public sealed class RedisClusterFixture : IAsyncLifetime
{
    private RedisCluster? _cluster;

    public RedisCluster Cluster => _cluster ?? throw new InvalidOperationException("The fixture is not initialized");

    public async Task InitializeAsync() => _cluster = await RedisCluster.StartAsync().ConfigureAwait(false);

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Tests on the real Redis Cluster: <c>[Collection(RedisClusterCollection.Name)]</c>.</summary>
[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "redis-cluster";
}
